"""The multi-modal method's results: one row per model (feature baselines, networks,
late fusion, the training mean), per target N, RMSE, R2, MAE, the photo-z statistics of
z, the mean R2 over the nine targets and the wall times; and the fusion verdict (does
early or late fusion beat the best single modality on the mean R2?).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from galstar.evaluation.metrics import regression_metrics
from galstar.methods.multimodal import TARGETS
from galstar.methods.multimodal_features import photoz_statistics

__all__ = ["SHORT", "wall_times", "results_table", "fusion_verdict", "summarise"]

#: Column-group names of the targets in the wide table.
SHORT = {"z": "z", **{t: t.removeprefix("sfr_tot_") for t in TARGETS[1:]}}
METRICS = ("N", "RMSE", "R2", "MAE")


def wall_times(*, history: str | os.PathLike | None = None,
               benchmark: str | os.PathLike | None = None,
               fit: str | os.PathLike | None = None) -> tuple[float, float]:
    """(train_s, predict_s): a network's fit time is the sum of its epochs
    (``history.csv``), its prediction time the predict job's benchmark (``s``; NaN when
    the file is absent); feature and stacking models record both in ``fit.json``."""
    if history:
        train = float(pd.read_csv(history)["seconds"].sum())
        predict = np.nan
        if benchmark and os.path.isfile(benchmark):
            predict = float(pd.read_csv(benchmark, sep="\t")["s"].iloc[0])
        return train, predict
    if fit:
        record = json.loads(open(fit).read())
        return float(record["fit_s"]), float(record["predict_s"])
    return np.nan, np.nan


def results_table(predictions: Mapping[str, pd.DataFrame], kinds: Mapping[str, Mapping],
                  times: Mapping[str, tuple[float, float]], split: str = "test",
                  outlier: float = 0.05) -> pd.DataFrame:
    """The wide results table.

    Parameters
    ----------
    predictions : mapping
        Model name -> predictions contract (rows of ``split`` are scored).
    kinds : mapping
        Model name -> ``{"kind": ..., "modality": image | spectrum | fused | none}``.
    times : mapping
        Model name -> (train_s, predict_s).

    Returns
    -------
    pandas.DataFrame
        model, kind, modality, train_s, predict_s, mean_R2, z_sigma_mad, z_bias, z_f_out,
        then ``<short>_<metric>`` for each target and metric (N, RMSE, R2, MAE).
    """
    rows = []
    for name, frame in predictions.items():
        test = frame[frame["split"] == split]
        if test.empty:
            raise ValueError(f"model '{name}' has no '{split}' predictions")
        scores = {t: regression_metrics(test[f"{t}_true"], test[f"{t}_pred"]) for t in TARGETS}
        photoz = photoz_statistics(test["z_true"], test["z_pred"], outlier)
        row = {"model": name, **dict(kinds[name]), "train_s": times[name][0],
               "predict_s": times[name][1],
               "mean_R2": float(np.mean([m["R2"] for m in scores.values()])),
               **{f"z_{k}": v for k, v in photoz.items()}}
        for t, m in scores.items():
            row.update({f"{SHORT[t]}_{k}": m[k] for k in METRICS})
        rows.append(row)
    return pd.DataFrame(rows)


def fusion_verdict(table: pd.DataFrame) -> pd.DataFrame:
    """Best single-modality model (image or spectrum) against the best early- and
    late-fusion models, on the mean R2 over the nine targets."""
    def best(mask):
        sub = table[mask]
        if sub.empty:
            return None, np.nan
        row = sub.loc[sub["mean_R2"].idxmax()]
        return row["model"], float(row["mean_R2"])

    single_name, single = best(table["modality"].isin(["image", "spectrum"]))
    rows = []
    for kind in ("early_fusion", "late_fusion"):
        name, value = best(table["kind"] == kind)
        if name is None:
            continue
        rows.append({"fusion": kind, "model": name, "mean_R2": value,
                     "best_single_modality": single_name, "single_mean_R2": single,
                     "gain": value - single, "at_least_as_good": bool(value >= single)})
    return pd.DataFrame(rows)


def summarise(inputs: Mapping[str, Mapping[str, str]], *, results_path: str | os.PathLike,
              verdict_path: str | os.PathLike, outlier: float = 0.05) -> pd.DataFrame:
    """Read every model's predictions and timings and write the two tables.

    ``inputs``: model name -> ``predictions``, ``kind``, ``modality`` and the timing
    files (``history`` and ``benchmark``, or ``fit``). Every model is scored on the
    objects all of them predict (image-only models, reading the image sample, also
    predict the few galaxies lost to their spectrum).
    """
    from galstar.evaluation.evaluate import write_csv
    from galstar.io import read_parquet

    predictions = {n: read_parquet(spec["predictions"]) for n, spec in inputs.items()}
    common = set.intersection(*(set(p["object_id"]) for p in predictions.values()))
    predictions = {n: p[p["object_id"].isin(common)].reset_index(drop=True)
                   for n, p in predictions.items()}
    kinds = {n: {"kind": spec["kind"], "modality": spec["modality"]}
             for n, spec in inputs.items()}
    times = {n: wall_times(history=spec.get("history"), benchmark=spec.get("benchmark"),
                           fit=spec.get("fit"))
             for n, spec in inputs.items()}
    table = results_table(predictions, kinds, times, outlier=outlier)
    write_csv(table, results_path)
    write_csv(fusion_verdict(table), verdict_path)
    return table
