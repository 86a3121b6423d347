"""The one place that picks the device and sets CPU numerics and the CPU thread count."""
from __future__ import annotations

import math
import os
import time
from collections import deque

import torch

from ..errors import ConfigError
from ..lazy import configure_cpu_numerics


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without a GPU is an error, not a silent CPU run."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU; use 'auto' or 'cpu'")
    if preference not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda; got {preference!r}")
    return torch.device(preference)


configure_cpu_numerics()  # at import, as vae_core.model.networks does (vae_core.lazy says why)


def describe_device(device: torch.device | None = None) -> str:
    device = device or pick_device()
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    if os.environ.get(THREADS_ENV, "auto").strip().lower() in ("", "auto") and _PER_THREAD_COUNTS \
            and BASE_THREADS > 1:
        return f"CPU ({BASE_THREADS} threads, fewer while the CPU is shared)"
    return f"CPU ({torch.get_num_threads()} threads)"


# ---------------------------------------------------------------------------------------------
# Sharing the CPU: the loop's own clock, and a thread count that follows what the machine allows
# ---------------------------------------------------------------------------------------------
#
# torch's two OpenMP threads meet at a barrier after every operation. When another program holds
# one core, one of them waits for a time slice at each barrier and training collapses: the 2-D MLP
# measured 80 steps/s quiet and 14 with a one-core busy loop beside it (0.18x); one thread kept 31
# (but is 0.6x when quiet); OMP_WAIT_POLICY=PASSIVE kept 37 but cost about 25 % quiet. No fixed
# setting is good in both cases, so the loop measures itself: `ThreadGovernor` times its steps,
# now and then tries the neighbouring thread count for a few steps, and keeps the faster one.
#
# Scope of torch.set_num_threads on this build (OpenMP backend, MKL): it sets the calling thread's
# count (OpenMP's and MKL's settings are per thread) and torch's default for threads started later;
# threads already running keep theirs. So the governor in a page training's thread changes neither
# the page's own decoding (other threads) nor a second training (its own thread, its own governor:
# with two trainings on two cores each soon finds one thread faster, and returns to two alone).
# tests/test_runtime.py checks this property of torch. Threads started while a training runs at
# one thread start with one; each training gives its thread BASE_THREADS back when it ends.
#
# Why the thread count and not OpenMP's spin: steps/s of the 784-512-512-512-2 MLP at batch 128 on
# two quiet physical cores (an idle 16-core machine under `taskset`, torch 2.11, load average ~1,
# MNIST-shaped random images; best of 2 runs of 3 s each, quiet and beside a one-core busy loop):
#
#   2 threads (torch's default)          98.5 quiet    1.5 beside the busy loop (0.02x)
#   1 thread                             64.6         58.3
#   2 threads, OMP_WAIT_POLICY=PASSIVE   72.3         46.8
#   2 threads, GOMP_SPINCOUNT=1000       74.0         42.9
#   2 threads, GOMP_SPINCOUNT=10000      64.1         18.1
#   2 threads, GOMP_SPINCOUNT=100000     74.3          3.0
#
# Every shorter spin cost 25-35 % quiet, and none kept 2 threads anywhere near 1 thread beside the
# busy loop, so vae_core leaves the spin (and OMP_WAIT_POLICY) to the user and moves the thread
# count. The governor on the same kind of two quiet cores (another start of that machine; 4 s runs,
# best of 2): 2 threads 79.0 quiet, 1.5 beside the busy loop; 1 thread 54.4, 57.6; the governor
# 79.9 quiet (1.01x of 2 threads) and 43.7 beside the busy loop (0.55x of its quiet rate; most of
# the gap to 1 thread is the one 0.67 s step of its first probe at 2 threads, which a 4 s run
# cannot amortise: fed the step times above, it keeps 0.99x quiet and 0.96x of 1 thread beside the
# busy loop over 30 s). On the shared 2-core workstation (load average 3-8 from other users'
# programs all along, so never quiet) it ran at 1 thread for 90-99 % of the steps, within noise of the
# fixed 1 thread. bench/bench_contention.py measures it side by side with the fixed settings.

THREADS_ENV = "VAE_THREADS"  # "auto" (default): the governor; a number: that many threads, fixed
BASE_THREADS = torch.get_num_threads()  # torch's count when vae_core was imported (OMP_NUM_THREADS, cores)
_PER_THREAD_COUNTS = "parallel backend: OpenMP" in torch.__config__.parallel_info()


def thread_choices(n: int) -> tuple[int, ...]:
    """The counts the governor walks between for `n` cores: 1, n/4, n/2, n-1, n (a busy neighbour
    on one core of n leaves n-1 free; halving covers heavier sharing)."""
    counts = {1, n, max(1, n - 1)}
    k = n // 2
    while k > 1:
        counts.add(k)
        k //= 2
    return tuple(sorted(counts))


class ThreadGovernor:
    """Picks a thread count from the durations of the loop's steps alone (no clock, no torch).

    Feed it each step's duration with `observe`; it answers the count to use for the next step.
    A window is the last `window` steps, or as few as `min_window` once they add up to
    `window_seconds` (a collapsed count must not take 8 slow steps to be noticed).

    Cycle: hold the current count, keeping its last window of durations; then probe: switch to a
    neighbouring count, skip `settle` steps, take the median of a window, and keep that count only
    if it is faster by more than `margin`. A probe is cut short once it has taken `abort` x the
    time its window would take at the current rate. The next probe comes when the hold has passed,
    or sooner when the window's median has moved by more than `drift` from the one the last
    decision was based on (a neighbour came or went). Either way the time since the last decision
    must be at least 1 / `probe_share` x what probing that count lost last time (its time beyond
    what the same steps take at the current rate), so probing costs at most a few percent however
    noisy the machine: beside a busy neighbour one step at 2 threads can take seconds. After a
    probe that changed nothing the hold doubles, from `min_hold` up to `max_hold`; after a switch
    that has a further count the same way, that one is tried after one window.

    It starts at the fewest threads, the count that cannot collapse, and climbs from there: on a
    quiet machine that costs one window at 1 thread (~0.1 s); starting at 2 threads beside a busy
    neighbour costs seconds per step until the first probe (measured 0.5-1 s per step on the
    shared 2-core workstation at a load average of 9, 0.67 s on two quiet cores of a 16-core one).
    """

    def __init__(self, choices, *, start: int | None = None, window: int = 8, min_window: int = 3,
                 window_seconds: float = 0.25, settle: int = 1, min_hold: float = 2.0, max_hold: float = 30.0,
                 probe_share: float = 0.05, margin: float = 0.05, drift: float = 0.3, abort: float = 2.0):
        self.choices = tuple(sorted(set(int(c) for c in choices)))
        if not self.choices or self.choices[0] < 1:
            raise ValueError(f"thread choices must be positive; got {choices!r}")
        self.threads = start if start is not None else self.choices[0]
        if self.threads not in self.choices:
            raise ValueError(f"start {start} is not one of {self.choices}")
        self.window, self.min_window, self.window_seconds = window, min_window, window_seconds
        self.settle, self.margin, self.drift, self.abort = settle, margin, drift, abort
        self.min_hold, self.max_hold, self.probe_share = min_hold, max_hold, probe_share
        self.probes = 0  # probes started (for tests and the benchmark)
        self.switches = 0  # probes that changed the count
        self._skip = 1  # the first step pays one-off costs (allocations, imports)
        self._recent: list[float] = []  # the last window of durations at the current count
        self._held = 0.0  # seconds since the last decision
        self._hold = 0.0  # the first probe comes as soon as one window is measured
        self._ref: float | None = None  # median step time at the current count, when last decided
        self._loss: dict[int, float] = {}  # count -> seconds its last probe lost (or the expected loss)
        self._probe: dict | None = None  # {"from", "spent", "steps", "times", "skip"} while probing
        self._down = True  # the way the next probe goes, when there are counts both ways

    def observe(self, seconds: float) -> int:
        """Record one step's duration; return the thread count for the next step."""
        if len(self.choices) == 1:
            return self.threads
        if self._probe is not None:
            self._observe_probe(seconds)
        else:
            self._observe_hold(seconds)
        return self.threads

    def _observe_hold(self, seconds: float) -> None:
        self._held += seconds
        if self._skip:
            self._skip -= 1
            return
        self._recent = (self._recent + [seconds])[-self.window:]
        if not self._full(self._recent):
            return
        now = _median(self._recent)
        if self._ref is None:
            self._ref = now
        moved = not (self._ref / (1 + self.drift) <= now <= self._ref * (1 + self.drift))
        affordable = self._held >= self._loss.get(self._next_target(), 0.0) / self.probe_share
        if affordable and (moved or self._held >= self._hold):
            self._ref = now
            self._start_probe()

    def _full(self, times: list[float]) -> bool:
        return len(times) >= self.window or (len(times) >= self.min_window and sum(times) >= self.window_seconds)

    def _window_time(self, step: float) -> float:
        """How long a window of steps of this duration takes."""
        return min(self.window * step, max(self.min_window * step, self.window_seconds))

    def _budget(self) -> float:
        """A probe running longer than this (at the current reference) is cut short."""
        return self.abort * (self.settle * self._ref + self._window_time(self._ref))

    def _next_target(self) -> int:
        i = self.choices.index(self.threads)
        below = self.choices[i - 1] if i > 0 else None
        above = self.choices[i + 1] if i + 1 < len(self.choices) else None
        return (below if self._down else above) or below or above

    def _start_probe(self) -> None:
        target = self._next_target()
        self._down = target < self.threads
        self.probes += 1
        self._probe = {"from": self.threads, "spent": 0.0, "steps": 0, "times": [], "skip": self.settle}
        self.threads = target

    def _observe_probe(self, seconds: float) -> None:
        p = self._probe
        p["spent"] += seconds
        p["steps"] += 1
        if p["skip"]:
            p["skip"] -= 1
        else:
            p["times"].append(seconds)
        if self._full(p["times"]):
            faster = _median(p["times"]) < self._ref * (1 - self.margin)
        elif p["spent"] > self._budget():
            faster = False  # clearly slower: stop paying for it
        else:
            return
        self._end_probe(faster)

    def _end_probe(self, faster: bool) -> None:
        p, self._probe = self._probe, None
        old_ref = self._ref
        self._loss[self.threads] = max(0.0, p["spent"] - p["steps"] * old_ref)
        self._held = 0.0
        self._recent = []
        if faster:
            self.switches += 1
            self._ref = _median(p["times"])
            self._skip = 0  # already running at this count
            # Probing the old count again will lose about this: its steps are slower by the difference.
            steps = self.settle + max(self.min_window, min(self.window, math.ceil(self.window_seconds / old_ref)))
            spent = min(steps * old_ref, self._budget() + old_ref)
            self._loss[p["from"]] = max(0.0, spent - spent / old_ref * self._ref)
            i = self.choices.index(self.threads)
            further = 0 < i < len(self.choices) - 1  # a count beyond this one, the same way
            self._hold = 0.0 if further else self.min_hold
        else:
            self.threads = p["from"]
            self._skip = self.settle
            self._down = not self._down  # a loss turns round; a switch keeps climbing the same way
            self._hold = min(self.max_hold, max(self.min_hold, 2 * self._hold))


def _median(values) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class Pacer:
    """The training loop's clock: call `tick(step)` after every optimiser step.

    Keeps the recent rate (steps/s over the last `rate_seconds`, for the time-left estimate) and,
    on the CPU, sets the calling thread's torch thread count: the `ThreadGovernor`'s choice, or
    a fixed count from $VAE_THREADS. `close()` gives the thread BASE_THREADS back.
    """

    # 20 s: a slowdown that lasts shows within 20 s, and a few busy seconds (a page reloaded beside the
    # training, its first run loading models) move the time left by a quarter, not tenfold (over 4 s it
    # jumped from ~101 s to 1,093 s).
    def __init__(self, device: torch.device, *, rate_seconds: float = 20.0, min_rate_steps: int = 8,
                 clock=time.perf_counter):
        self.rate_seconds, self.min_rate_steps, self._clock = rate_seconds, min_rate_steps, clock
        self._last = clock()
        self._marks: deque[tuple[float, int]] = deque()  # (time, step) of recent ticks
        self.governor: ThreadGovernor | None = None
        self._touched = False
        if device.type != "cpu":
            return
        setting = os.environ.get(THREADS_ENV, "auto").strip().lower() or "auto"
        if setting != "auto":
            try:
                fixed = int(setting)
            except ValueError:
                fixed = 0
            if fixed < 1:
                raise ConfigError(f"${THREADS_ENV} must be 'auto' or a thread count ≥ 1; got {setting!r}")
            self._set(fixed)
        elif _PER_THREAD_COUNTS and BASE_THREADS > 1:
            self.governor = ThreadGovernor(thread_choices(BASE_THREADS))
            self._set(self.governor.threads)

    def _set(self, n: int) -> None:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        self._touched = True

    def tick(self, step: int) -> None:
        now = self._clock()
        if self.governor is not None:
            n = self.governor.observe(now - self._last)
            if n != torch.get_num_threads():
                torch.set_num_threads(n)
        self._marks.append((now, step))
        while len(self._marks) > self.min_rate_steps and now - self._marks[1][0] >= self.rate_seconds:
            self._marks.popleft()
        self._last = self._clock()  # the governor's own work is not the next step's time

    def rate(self) -> float | None:
        """Steps per second over the last `rate_seconds` (at least `min_rate_steps` steps)."""
        if len(self._marks) < 2:
            return None
        (t0, s0), (t1, s1) = self._marks[0], self._marks[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None

    def close(self) -> None:
        if self._touched and torch.get_num_threads() != BASE_THREADS:
            torch.set_num_threads(BASE_THREADS)
