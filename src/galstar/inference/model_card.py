"""The short Markdown model card of a packaged model: data, method, test metrics,
intended use and known failure modes (written from the run's own files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["FAILURE_MODES", "INTENDED_USE", "model_card"]

#: Method -> what it is for (the card's "Intended use").
INTENDED_USE = {
    "galeffnet": "Fibre stellar mass and specific star-formation rate (MPA-JHU p50 "
                 "definitions) of low-redshift galaxies from DESI Legacy Survey DR9 grz "
                 "cutouts, for galaxies like those of the training sample (SDSS main-sample "
                 "depth and redshifts, isolated, within the size cut).",
    "sigma_sfr": "log Sigma_SFR (SFR surface density within R_e) of galaxies like the "
                 "training sample, from DR9 photometry, shapes and the spectroscopic "
                 "redshift; weighted towards the low end.",
    "stellar": "Teff, log g and [M/H] of M dwarfs from CARMENES echelle spectra on the "
               "arm grid the model was trained on.",
}

#: Method -> known failure modes (the card's list).
FAILURE_MODES = {
    "galeffnet": (
        "Size-distance degeneracy: an image alone does not tell a small nearby galaxy from "
        "a large distant one; without the redshift input, mass errors grow with distance "
        "from the training redshifts.",
        "Blended or crowded fields, and targets larger than the size cut, are rejected by "
        "the preprocessing (reject_reason blended / too_large), not predicted.",
        "Outside the training label range predictions are clipped (`<t>_clipped`).",
        "Trained on the archive named in model.json: a mock-trained model is not "
        "calibrated for real cutouts.",
    ),
    "sigma_sfr": (
        "Needs the spectroscopic redshift: a photometric z adds its error to every "
        "feature that depends on distance.",
        "Regresses towards the median at the extremes; the low end is the hard part.",
        "Targets with a non-finite feature (no flux, no shape) are rejected "
        "(nonfinite_<feature>).",
    ),
    "stellar": (
        "Synthetic gap: models trained on the BT-Settl grid (regime a) carry the grid's "
        "systematic offsets to real stars.",
        "Stars outside the grid's parameter range, and spectra with too many gaps, are "
        "extrapolated or rejected.",
    ),
}


def _metrics_table(metrics: pd.DataFrame) -> str:
    cols = [c for c in ("target", "N", "MAE", "RMSE", "sigma", "bias", "f_out", "R2")
            if c in metrics.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in metrics[cols].itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v)
                                       for v in row) + " |")
    return "\n".join(lines)


def model_card(*, name: str, method: str, code_version: str, archive: str,
               experiment: Mapping[str, Any], run: Mapping[str, Any],
               targets: Sequence[str], units: Mapping[str, str], metrics: pd.DataFrame,
               calibration: Mapping[str, Any], inputs: Mapping[str, Any],
               n_train: int, n_val: int) -> str:
    """The card's Markdown text."""
    scales = ", ".join(f"{t} x{c['scale']:.3g}" if c.get("scale") else f"{t} none"
                       for t, c in calibration.items())
    model = experiment.get("backbone") or experiment.get("model") or "network"
    failures = "\n".join(f"- {f}" for f in FAILURE_MODES.get(method, ()))
    return f"""# Model card: {name}

- Code version: {code_version}; archive: {archive}
- Targets: {", ".join(f"{t} [{units.get(t, '')}]" for t in targets)}
- Inputs: {", ".join(f"{k}={v}" for k, v in inputs.items())}

## Data
Trained on {n_train} objects and validated (early stopping, calibration) on {n_val}
(`training_sample.parquet`); tested on the test split below.

## Method
{method} ({model}), {run.get("epochs_run", "?")} epochs (best {run.get("best_epoch", "?")}),
loss {experiment.get("loss")}, learning rate {experiment.get("learning_rate")},
dropout {experiment.get("dropout")} (also the MC-dropout rate). 1-sigma uncertainties:
the MC-dropout spread times the validation factor ({scales}).

## Metrics on the test split
{_metrics_table(metrics)}

## Intended use
{INTENDED_USE.get(method, "See the method's documentation.")}
Predict with `galstar predict TARGETS <this directory>` (README, "Predicting for your
own targets"); the preprocessing must match `preprocessing.yaml`.

## Known failure modes
{failures}
"""
