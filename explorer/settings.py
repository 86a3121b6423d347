"""Page-wide settings: where the data is, what the comparison shows, the class palette.

`streamlit run explorer_app.py -- --data-dir DIR` passes a data directory to the page (the
arguments after `--` reach the script); without it the page uses $VAE_DATA_DIR, else the
user cache directory, like the CLI.
"""
from __future__ import annotations

import argparse
import sys

import vae_core as vc

SIDES = ("A", "B", "C", "D")  # up to four models compared side by side
DEFAULT_MODELS = 2  # the shipped standard VAE and MMD-VAE
# The manifold grid's range sliders (percent): prior probability covered, and percentiles of the codes.
GRID_QUANTILE_RANGE = (1, 99)
GRID_PERCENTILE_RANGE = (0, 100)
# The manifold grid a page opens with: n, spacing, and the range in percent (Kingma & Welling's 5–95 %).
DEFAULT_GRID = (20, "quantile", 5.0, 95.0)
# Tableau 10, the palette vae_core's raster scatter uses too, so PNG snapshots and the page agree.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def page_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The page's own command-line options (after `--` on the streamlit command line)."""
    parser = argparse.ArgumentParser(prog="streamlit run explorer_app.py --", add_help=False)
    parser.add_argument("--data-dir", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return args


def data_dir() -> str:
    """The data directory: --data-dir after `--`, else $VAE_DATA_DIR, else the user cache."""
    return str(vc.resolve_data_dir(page_arguments().data_dir))


def objective_title(objective: str) -> str:
    """The objective's own title from vae_core's registry ("VAE", "MMD-VAE", "IWAE", ...)."""
    record = vc.OBJECTIVES.get(objective)
    return record.title if record is not None else (objective or "?")
