"""The Table-1 summary of spectra_from_images (Wu & Peek 2020, Table 1), from the run's
own numbers.

One row per image network and one for the mean-latent baseline: trainable parameters,
the validation MSE (mean over the six standardised latents) after each reported epoch
(from the training history, the weights of that epoch), the validation MSE, RMSE and
per-latent RMSE of the kept weights (from the predictions), and the ratio to the
baseline. Rows are ranked by the validation MSE of the kept weights.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.methods.spectra_from_images import TARGETS

__all__ = ["PAPER_MSE", "validation_errors", "table1"]

#: The paper's Table 1 (validation MSE after 10 and 50 epochs; real PS1 / SDSS data).
PAPER_MSE = {"xresnet18_hybrid": (0.506, 0.474), "xresnet18": (0.528, 0.487),
             "xresnet18_deconv": (0.541, 0.577), "simple_cnn": (0.783, None),
             "simple_deconv": (0.678, None)}


def validation_errors(predictions: pd.DataFrame, where: str) -> dict[str, float]:
    """MSE, RMSE and per-latent RMSE on the ``val`` rows of a predictions table."""
    val = predictions[predictions["split"] == "val"]
    if val.empty:
        raise ValueError(f"{where}: no validation rows")
    err = np.stack([val[f"{t}_pred"].to_numpy(float) - val[f"{t}_true"].to_numpy(float)
                    for t in TARGETS], axis=1)
    out = {"n_val": len(val), "val_mse": float(np.mean(err**2)),
           "val_rmse": float(np.sqrt(np.mean(err**2)))}
    out.update({f"rmse_{t}": float(np.sqrt(np.mean(err[:, i] ** 2)))
                for i, t in enumerate(TARGETS)})
    return out


def _parameters(model_path: str | os.PathLike) -> int:
    import keras

    from galstar.methods.run import _method  # the custom layers, registered

    _method("spectra_from_images")
    model = keras.saving.load_model(model_path, compile=False)
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def table1(spec: Mapping[str, Mapping[str, Any]], baseline: str | os.PathLike,
           report_epochs: Sequence[int]) -> pd.DataFrame:
    """The Table-1 summary.

    Parameters
    ----------
    spec : mapping
        Experiment name -> ``model`` (architecture), ``model_path``, ``history``
        (history.csv) and ``predictions`` (predictions parquet).
    baseline : path
        The mean-latent baseline's predictions.
    report_epochs : sequence of int
        Epochs whose validation MSE is reported (``val_mse_epoch_<e>``; empty where a
        run stopped earlier).
    """
    from galstar.io import read_parquet

    rows = []
    for name, files in spec.items():
        history = pd.read_csv(files["history"])
        by_epoch = history.set_index("epoch")["val_loss"]
        row = {"model": name, "architecture": files["model"],
               "parameters": _parameters(files["model_path"]),
               "epochs_run": int(history["epoch"].max()),
               "kept_epoch": int(history.loc[history["kept"].astype(bool), "epoch"].iloc[0])}
        for e in report_epochs:
            row[f"val_mse_epoch_{int(e)}"] = float(by_epoch.get(int(e), np.nan))
        row.update(validation_errors(read_parquet(files["predictions"]), files["predictions"]))
        paper = PAPER_MSE.get(files["model"], (None, None))
        row["paper_mse_10"], row["paper_mse_50"] = paper
        rows.append(row)
    base = validation_errors(read_parquet(baseline), str(baseline))
    rows.append({"model": "baseline-mean", "architecture": "training mean latent",
                 "parameters": 0, **base})
    table = pd.DataFrame(rows)
    table["baseline_mse"] = base["val_mse"]
    table["mse_over_baseline"] = table["val_mse"] / base["val_mse"]
    table["beats_baseline"] = table["val_mse"] < base["val_mse"]
    table = table.sort_values("val_mse", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table
