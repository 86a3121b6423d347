"""The CPU thread governor on synthetic step times, the recent-rate time-left estimate, and training
that gives the same numbers whatever the thread count. Nothing here measures real time."""
import threading

import pytest
import torch

from vae_core import ConfigError, ModelConfig, Progress, TrainConfig
from vae_core import fit
from vae_core.training import runtime
from vae_core.training.runtime import Pacer, ThreadGovernor, thread_choices

QUIET = {2: 0.0125, 1: 0.021}  # seconds per step: 80 vs 48 steps/s, as measured on the 2-core machine
BUSY = {2: 0.071, 1: 0.024}  # a one-core busy loop beside it: 2 threads collapse, 1 keeps its core


def simulate(gov: ThreadGovernor, costs, seconds: float):
    """Run a loop whose step time depends only on the thread count in force; return per-step counts."""
    used, t = [], 0.0
    while t < seconds:
        n = gov.threads
        used.append(n)
        t += costs[n]
        gov.observe(costs[n])
    return used


def time_at(used, costs, n):
    return sum(costs[k] for k in used if k == n)


def test_thread_choices():
    assert thread_choices(1) == (1,)
    assert thread_choices(2) == (1, 2)
    assert thread_choices(4) == (1, 2, 3, 4)
    assert thread_choices(16) == (1, 2, 4, 8, 15, 16)


def test_quiet_machine_keeps_two_threads_and_probing_costs_little():
    gov = ThreadGovernor((1, 2))
    used = simulate(gov, QUIET, 60.0)
    assert used[0] == 1 and used.index(2) <= 12  # starts safe, climbs after one window
    assert used[-1] == 2 and gov.switches == 1
    assert gov.probes >= 4  # it keeps checking (a neighbour may have come)...
    assert time_at(used, QUIET, 1) < 0.02 * 60.0  # ...for under 2 % of the time
    steps_all_two = 60.0 / QUIET[2]
    assert len(used) > 0.98 * steps_all_two


def test_busy_neighbour_from_the_start_keeps_one_thread():
    gov = ThreadGovernor((1, 2))
    used = simulate(gov, BUSY, 30.0)
    assert used[-1] == 1 and gov.switches == 0 and gov.probes >= 2
    # it still tries two threads now and then, but those probes are cut short
    assert time_at(used, BUSY, 2) < 0.06 * 30.0
    assert len(used) / 30.0 > 0.9 / BUSY[1]


def test_a_collapse_to_seconds_per_step_is_left_within_a_few_steps():
    # measured on a machine loaded by other programs too: 2 threads ~0.5 s per step, 1 thread 25 ms
    gov = ThreadGovernor((1, 2), start=2)
    used = simulate(gov, {2: 0.5, 1: 0.025}, 60.0)
    assert used.index(1) <= 6 and used[-1] == 1
    assert sum(0.5 for n in used if n == 2) < 0.08 * 60.0


def test_a_noisy_machine_does_not_make_it_probe_an_expensive_count_more_often():
    # one thread's steps swing between 20 and 40 ms (other programs come and go), which is drift
    # enough to ask for a probe each time; a step at 2 threads takes a whole second
    gov = ThreadGovernor((1, 2))
    used, t, i = [], 0.0, 0
    while t < 120.0:
        n = gov.threads
        step = 1.0 if n == 2 else (0.02 if (i // 10) % 2 else 0.04)
        used.append(n)
        t += step
        i += 1
        gov.observe(step)
    assert used[-1] == 1
    assert sum(1.0 for n in used if n == 2) <= 0.06 * 120.0


def test_follows_a_neighbour_that_comes_and_goes():
    gov = ThreadGovernor((1, 2), max_hold=20.0)
    before = simulate(gov, QUIET, 20.0)
    assert before[-1] == 2
    during = simulate(gov, BUSY, 20.0)
    switch_at = during.index(1)
    assert switch_at <= 12  # the drift in step time triggers a probe at once, not after the hold
    assert during[-1] == 1
    after = simulate(gov, QUIET, 40.0)
    back_at = sum(QUIET[n] for n in after[:after.index(2)]) if 2 in after else None
    assert back_at is not None and back_at <= 20.0 + 1.0  # at the latest one hold later
    assert after[-1] == 2


def test_one_slow_step_is_not_a_reason_to_switch():
    gov = ThreadGovernor((1, 2))
    simulate(gov, QUIET, 5.0)
    switches = gov.switches
    for i in range(2000):  # an epoch-end evaluation of 0.5 s every 400 steps
        gov.observe(0.5 if i % 400 == 399 else QUIET[gov.threads])
    assert gov.threads == 2 and gov.switches == switches


def test_probes_try_both_neighbours_and_climb_to_the_best():
    gov = ThreadGovernor((1, 2, 4), start=2)
    costs = {1: 0.03, 2: 0.01, 4: 0.02}
    used = simulate(gov, costs, 60.0)
    assert set(used) == {1, 2, 4}
    assert used[-1] == 2
    gov = ThreadGovernor(thread_choices(16))  # from 1 thread up to 15 of 16 (one core is taken)
    costs = {1: 0.16, 2: 0.08, 4: 0.04, 8: 0.02, 15: 0.011, 16: 0.05}
    used = simulate(gov, costs, 60.0)
    assert used[-1] == 15 and sum(costs[n] for n in used[:used.index(15)]) < 10.0
    with pytest.raises(ValueError):
        ThreadGovernor((1, 2), start=3)


def test_a_single_choice_never_changes():
    gov = ThreadGovernor((1,))
    assert set(simulate(gov, {1: 0.01}, 5.0)) == {1} and gov.probes == 0


# ----------------------------------------------------------------------------- the time left

def test_eta_uses_the_recent_rate():
    # 1,000 steps in 10 s, then the machine got busy: 10 steps/s lately
    p = Progress(step=1000, total_steps=2000, epoch=1.0, elapsed=10.0, train={}, rate=10.0)
    assert p.eta == pytest.approx(100.0)
    no_rate = Progress(step=1000, total_steps=2000, epoch=1.0, elapsed=10.0, train={})
    assert no_rate.eta == pytest.approx(10.0)  # the average so far


def test_pacer_rate_is_over_the_last_seconds():
    now = [0.0]
    pacer = Pacer(torch.device("meta"), rate_seconds=4.0, clock=lambda: now[0])  # no thread governing
    step = 0
    for _ in range(1000):  # 100 steps/s for 10 s
        now[0] += 0.01
        step += 1
        pacer.tick(step)
    assert pacer.rate() == pytest.approx(100.0)
    for _ in range(30):  # then 10 steps/s for 3 s
        now[0] += 0.1
        step += 1
        pacer.tick(step)
    average = step / now[0]  # ~79 steps/s since the start
    assert pacer.rate() == pytest.approx((100 + 30) / 4.0, rel=0.02)  # the last 4 s: 1 s fast, 3 s slow
    assert pacer.rate() < 0.5 * average
    for _ in range(20):
        now[0] += 0.1
        step += 1
        pacer.tick(step)
    assert pacer.rate() == pytest.approx(10.0)


def test_a_few_busy_seconds_do_not_multiply_the_time_left():
    """A page reloaded beside a training takes the CPU for a few seconds: over the default window the
    time left moves by a quarter, not tenfold."""
    now = [0.0]
    pacer = Pacer(torch.device("meta"), clock=lambda: now[0])
    step, total = 0, 6000
    for _ in range(3000):  # 100 steps/s for 30 s
        now[0] += 0.01
        step += 1
        pacer.tick(step)
    before = Progress(step, total, 1.0, now[0], {}, rate=pacer.rate()).eta
    for _ in range(4):  # the page's first run: 4 s at 1 step/s
        now[0] += 1.0
        step += 1
        pacer.tick(step)
    after = Progress(step, total, 1.0, now[0], {}, rate=pacer.rate()).eta
    assert before == pytest.approx(30.0, rel=0.01) and after < 1.3 * before


def test_training_progress_carries_the_rate(mnist_small, mnist_test):
    seen = []
    fit(ModelConfig(hidden=(32,)), TrainConfig(epochs=1, batch_size=64, eval_subset=0), report_seconds=0.0,
          train_split=mnist_small, test_split=mnist_test, callback=seen.append)
    assert seen[-1].rate is not None and seen[-1].rate > 0
    assert seen[-1].eta == pytest.approx(0.0)


# ------------------------------------------------------------------------- thread counts in torch

def test_set_num_threads_is_per_thread_in_this_torch():
    """The governor relies on it: a training thread's count leaves the page's other threads alone."""
    if not runtime._PER_THREAD_COUNTS or runtime.BASE_THREADS < 2:
        pytest.skip("needs torch's OpenMP backend and two cores")
    main_before = torch.get_num_threads()
    seen = {}

    def worker():
        torch.set_num_threads(1)
        seen["worker"] = torch.get_num_threads()
        torch.set_num_threads(runtime.BASE_THREADS)  # and torch's default for new threads back

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["worker"] == 1
    assert torch.get_num_threads() == main_before


def test_bad_thread_setting_is_refused(monkeypatch):
    monkeypatch.setenv("VAE_THREADS", "many")
    with pytest.raises(ConfigError, match="VAE_THREADS"):
        Pacer(torch.device("cpu"))


class Alternating:
    """A governor that switches at every step, to show that the count never changes the numbers."""

    def __init__(self, choices):
        self.threads, self.counts = max(choices), []

    def observe(self, seconds):
        self.counts.append(torch.get_num_threads())
        self.threads = 1 if self.threads == 2 else 2
        return self.threads


def _run(mnist_small, mnist_test):
    cfg = TrainConfig(max_iters=6, batch_size=128, eval_subset=200, seed=3)
    return fit(ModelConfig(hidden=(512, 512, 512), latent_dim=2), cfg, train_split=mnist_small,
                 test_split=mnist_test, report_seconds=0.0)


def test_one_two_and_switching_threads_train_the_same(mnist_small, mnist_test, monkeypatch):
    if runtime.BASE_THREADS < 2:
        pytest.skip("needs two cores")
    results = {}
    for setting in ("1", "2"):
        monkeypatch.setenv("VAE_THREADS", setting)
        results[setting] = _run(mnist_small, mnist_test)
        assert torch.get_num_threads() == runtime.BASE_THREADS  # given back
    monkeypatch.setenv("VAE_THREADS", "auto")
    made = []
    monkeypatch.setattr(runtime, "ThreadGovernor", lambda choices: made.append(Alternating(choices)) or made[-1])
    monkeypatch.setattr(runtime, "_PER_THREAD_COUNTS", True)
    results["alternating"] = _run(mnist_small, mnist_test)
    assert made and set(made[0].counts) == {1, 2}  # both counts really ran
    assert torch.get_num_threads() == runtime.BASE_THREADS

    def losses(r):
        return [row["total"] for row in r.history if row["split"] == "train"]

    ref = results["2"]
    for name in ("1", "alternating"):
        assert losses(results[name]) == pytest.approx(losses(ref), rel=1e-4)
        for key, value in ref.model.state_dict().items():
            torch.testing.assert_close(results[name].model.state_dict()[key], value, rtol=1e-3, atol=1e-4)
