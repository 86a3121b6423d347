"""Shared fixtures: real MNIST from the data directory, and a throw-away models directory.

The datasets are never copied into the project: $VAE_DATA_DIR points at them, and
when it is unset the tests look for the workplace copy in ../shared/datasets.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "datasets"

if not os.environ.get("VAE_DATA_DIR") and (SHARED_DATA / "MNIST" / "raw").is_dir():
    os.environ["VAE_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path, monkeypatch):
    """Every test writes trained models into its own folder, never into the user's or pretrained/."""
    models = tmp_path / "models"
    monkeypatch.setenv("VAE_MODELS_DIR", str(models))
    return models


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["VAE_DATA_DIR"]) if os.environ.get("VAE_DATA_DIR") else None
    if path is None or not (path / "MNIST" / "raw").is_dir():
        pytest.fail("MNIST not found: set VAE_DATA_DIR to a folder holding MNIST/raw/*.gz")
    return path


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    from vae_core import load_split

    return load_split("mnist", "test", data_dir=data_dir)


@pytest.fixture(scope="session")
def mnist_small(data_dir):
    """A few hundred real training images: enough for a loss to fall in a second."""
    from vae_core import load_split

    return load_split("mnist", "train", data_dir=data_dir).subset(512)
