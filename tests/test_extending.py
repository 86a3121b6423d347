"""docs/extending.md, done for real: in a copy of the project, a new objective (with an option and a
part of its own), a new prior (with a setting), a new built-in dataset and a new latent-map layer are
each one new file and its registration; then the CLI offers and trains them, its help lists their
settings, and the page's form, choice titles, loss legend and layer picker show them, with nothing
else edited."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

TOY_OBJECTIVE = '''
"""A deterministic autoencoder with an L2 penalty on its codes (a toy for docs/extending.md)."""
from ..registry import Option
from .base import Objective, LossParts

WEIGHT = Option("code_weight", 0.1, "weight of the codes' squared norm", strict=False, label="Code weight")


class CodePenalty(Objective):
    name, title = "codepen", "L2-penalised autoencoder"
    help = "reconstruction + weight · ‖z‖²"
    options = (WEIGHT,)
    stochastic_encoder = False
    reports = {**Objective.reports, "norm": "squared norm of the code ‖z‖²"}

    def loss(self, model, x, step=0):
        mu, _ = model.encode(x)
        recon = -model.likelihood.log_prob(model.decode(mu), x).mean()
        norm = mu.pow(2).sum(-1).mean()
        return LossParts(recon + self.cfg.code_weight * norm, recon, norm=norm)
'''

WIDE_PRIOR = '''
"""N(0, s²I): a standard normal prior with a scale of its own (a toy for docs/extending.md)."""
import math

from ...lazy import torch
from ...registry import Option
from .base import Prior

SCALE = Option("prior_scale", 2.0, "standard deviation s of the N(0, s²I) prior", section="model",
               label="Prior scale s")


class WideNormal(Prior):
    name, title = "wide", "N(0, s²I)"
    help = "an isotropic Gaussian of scale s"
    options = (SCALE,)

    def __init__(self, cfg):
        super().__init__(cfg)
        self.scale = float(cfg.prior_scale)

    def log_prob(self, z):
        return (-0.5 * (z / self.scale).pow(2) - math.log(self.scale) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample(self, n, generator=None, *, device=None):
        return self.scale * torch.randn(n, self.latent_dim, generator=generator, device=device)
'''

DIGITS_AGAIN = '''
"""MNIST's files under another name (a toy record for docs/extending.md)."""
from .idx import IdxDataset
from .mnist import MNIST

DIGITS = IdxDataset(name="digits", title="Digits (MNIST's files)", shape=MNIST.shape, classes=MNIST.classes,
                    folder="MNIST", mirrors=MNIST.mirrors, md5=MNIST.md5)
'''

RADIUS_LAYER = '''
"""Radius: how far each point is from the prior's centre, ‖z‖ (a toy for docs/extending.md)."""
import numpy as np

from .base import MapLayer, ramp


class Radius(MapLayer):
    name, title = "radius", "distance from the centre"
    help = "‖z‖: how far a point is from the prior's centre"
    legend = "‖z‖, in prior standard deviations"

    @classmethod
    def compute(cls, model, z, codes, plane, classifier):
        return {"values": np.linalg.norm(np.asarray(z, np.float64), axis=-1)}

    @classmethod
    def paint(cls, layer, palette, scale):
        lo, hi = scale
        t = (np.asarray(layer["values"], np.float64) - lo) / max(hi - lo, 1e-9)
        return ramp(t), np.clip(t, 0, 1) * 0.5, {"kind": "scale", "lo": lo, "hi": hi, "text": "dark = far out"}
'''

# What the copy's checks print, as JSON: run with the copy first on the path.
PROBE = '''
import json, subprocess, sys
import numpy as np
import vae_core as vc
from explorer import figures, state
from explorer.layers import LAYERS
from vae_core.config import settings

found = {s.name: s for s in settings()}
help_text = subprocess.run([sys.executable, "-m", "vae_core", "train", "--help"], capture_output=True,
                           text=True, check=True).stdout
print(json.dumps({
    "package": vc.__file__,
    "objectives": list(vc.OBJECTIVES), "priors": list(vc.PRIORS), "datasets": list(vc.DATASETS),
    "objective_titles": found["objective"].choice_titles, "prior_titles": found["prior"].choice_titles,
    "code_weight": [found["code_weight"].default, found["code_weight"].label],
    "prior_scale": [found["prior_scale"].default, found["prior_scale"].section],
    "legend": figures.PART_TITLES.get("norm"),
    "layers": list(LAYERS),
    "layer_kept": state.VARS["layer"].repair("radius", None, None),  # the page's state accepts it
    "layer_picture": (lambda pic: [list(pic[0].shape), pic[1]["title"], pic[1]["lo"], pic[1]["hi"]])(
        figures.layer_picture("radius", {"values": np.array([[0.0, 1.0], [2.0, 4.0]])})),
    "help": {flag: flag in help_text for flag in ("--code-weight", "--prior-scale", "codepen", "wide", "digits")},
}))
'''


def register(path: Path, import_line: str, after: str, entry: str) -> None:
    """The registration: the member's import beside the registry's other imports, and its entry after
    `after` in the registry's list."""
    text = path.read_text()
    assert text.count(after) == 1, (path, after)
    head, tail = text.split(after)
    imports_end = head.rindex("\nfrom .") + 1
    imports_end = head.index("\n", imports_end) + 1
    path.write_text(head[:imports_end] + import_line + "\n" + head[imports_end:] + after + entry + tail)


NEW_FILES = {"vae_core/objectives/codepen.py": TOY_OBJECTIVE, "vae_core/model/priors/wide.py": WIDE_PRIOR,
             "vae_core/data/digits.py": DIGITS_AGAIN, "explorer/layers/radius.py": RADIUS_LAYER}
REGISTRATIONS = {  # the registry's file: (import, the entry it follows, the entry)
    "vae_core/objectives/__init__.py": ("from .codepen import CodePenalty", "    AnnealedVAE,\n",
                                        "    CodePenalty,\n"),
    "vae_core/model/priors/__init__.py": ("from .wide import WideNormal", "    MixturePrior,\n", "    WideNormal,\n"),
    "vae_core/data/__init__.py": ("from .digits import DIGITS", "    FASHION,\n", "    DIGITS,\n"),
    "explorer/layers/__init__.py": ("from .radius import Radius", "    Stretch,\n", "    Radius,\n"),
}


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of vae_core and explorer with the four members added: four new files, four
    registrations."""
    copy = tmp_path_factory.mktemp("extended")
    for package in ("vae_core", "explorer"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in NEW_FILES.items():
        (copy / name).write_text(text)
    for name, (import_line, after, entry) in REGISTRATIONS.items():
        register(copy / name, import_line, after, entry)
    return copy


def run_in(copy: Path, args: list[str], **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(copy), **env}
    return subprocess.run([sys.executable, *args], cwd=copy, env=environment, capture_output=True, text=True,
                          timeout=600)


def test_each_new_member_is_offered_by_the_cli_and_the_form(extended):
    probe = run_in(extended, ["-c", PROBE])
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(seen["package"]).is_relative_to(extended), seen["package"]  # the copy, not the checkout
    assert "codepen" in seen["objectives"] and "wide" in seen["priors"] and "digits" in seen["datasets"]
    assert seen["objective_titles"]["codepen"] == "L2-penalised autoencoder"
    assert seen["prior_titles"]["wide"] == "N(0, s²I)"
    assert seen["code_weight"] == [0.1, "Code weight"] and seen["prior_scale"] == [2.0, "model"]
    assert seen["legend"] == "squared norm of the code ‖z‖²"
    assert all(seen["help"].values()), seen["help"]
    # The layer: in the picker's list (the page's state keeps it), drawn by figures on its own scale.
    assert seen["layers"][-1] == "radius" and seen["layer_kept"] == "radius"
    assert seen["layer_picture"][:2] == [[2, 2, 4], "‖z‖, in prior standard deviations"]
    assert seen["layer_picture"][2] == pytest.approx(np.percentile([0, 1, 2, 4], 2))


def test_the_cli_trains_with_all_three_and_saves_their_settings(extended, tmp_path, data_dir):
    models = tmp_path / "models"
    run = run_in(extended, ["-m", "vae_core", "train", "--dataset", "digits", "--objective", "codepen",
                            "--prior", "wide", "--prior-scale", "3", "--code-weight", "0.5", "--hidden", "64",
                            "--train-subset", "300", "--eval-subset", "100", "--batch-size", "50", "--epochs", "2",
                            "--tag", "extended", "--quiet"],
                 VAE_MODELS_DIR=str(models), VAE_DATA_DIR=str(data_dir))
    assert run.returncode == 0, run.stderr[-3000:]
    folder = models / "extended"
    config = json.loads((folder / "config.json").read_text())
    model, train = config["model"], config["train"]
    assert (model["objective"], model["prior"], model["prior_scale"]) == ("codepen", "wide", 3.0)
    assert (train["dataset"], train["code_weight"]) == ("digits", 0.5)
    metrics = json.loads((folder / "metrics.json").read_text())
    tests = [r for r in metrics["history"] if r["split"] == "test"]
    assert len(tests) == 2 and all("norm" in r for r in tests)
    assert tests[-1]["recon"] < tests[0]["recon"]  # it learns
    # The loss is what the file says: total = recon + 0.5 · norm, on the same test images.
    last = tests[-1]
    assert last["total"] == pytest.approx(last["recon"] + 0.5 * last["norm"], rel=1e-4)


def test_the_registration_is_the_only_edit(extended):
    """Beyond the three new files, the copy differs from the checkout by two added lines in each
    registry's file and nowhere else: nothing in the page, the CLI or the configs was taught about
    the new members."""
    changed = {}
    for package in ("vae_core", "explorer"):
        for path in sorted((extended / package).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            name = path.relative_to(extended).as_posix()
            original = ROOT / name
            if not original.exists():
                changed[name] = "new"
            elif path.read_bytes() != original.read_bytes():
                before, after = original.read_text().splitlines(), path.read_text().splitlines()
                added = [line for line in after if line not in before]
                assert len(after) - len(before) == len(added) == 2, (name, added)
                changed[name] = "two lines"
    assert changed == {**{name: "new" for name in NEW_FILES}, **{name: "two lines" for name in REGISTRATIONS}}
