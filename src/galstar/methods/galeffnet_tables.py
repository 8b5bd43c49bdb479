"""GalEffNet's tables: Table 1 (rows = experiments/backbones, baselines below), Table
2-like metrics by galaxy size, redshift and DR9 TYPE, and the gain of the images over
the catalogue, compared like for like (with or without the redshift)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.evaluation.metrics import SHORT, grouped_metrics

__all__ = ["table1", "table2", "uses_redshift", "image_gain", "like_for_like"]

_TABLE1_METRICS = ("MAE", "sigma", "f_out", "bias", "bias_median", "RMSE", "R2", "N")


def table1(metrics: Mapping[str, pd.DataFrame],
           settings: Mapping[str, Mapping[str, Any] | None]) -> pd.DataFrame:
    """One row per experiment (and baseline) with the paper's Table 1 columns.

    Parameters
    ----------
    metrics : mapping
        Name -> per-target metrics (as written by ``metrics_table``), in row order.
    settings : mapping
        Name -> experiment settings (backbone, weights, bands, resolution, with_redshift)
        or a baseline's settings (kind, features).
    """
    rows = []
    for name, frame in metrics.items():
        exp = settings.get(name) or {}
        network = "backbone" in exp
        ablation = exp.get("ablation") or {}
        row: dict[str, Any] = {
            "experiment": name, "kind": "network" if network else "baseline",
            "backbone": exp["backbone"] if network else name.removeprefix("baseline-"),
            "weights": exp["weights"] if network else "",
            "bands": exp["bands"] if network else "",
            "resolution": exp["resolution"] if network else 0,
            "redshift": uses_redshift(exp),
            "ablation_of": ablation.get("base", ""),
        }
        for _, m in frame.iterrows():
            short = SHORT.get(m["target"], m["target"])
            for key in _TABLE1_METRICS:
                row[f"{short}_{key}"] = m[key]
        rows.append(row)
    return pd.DataFrame(rows)


def uses_redshift(settings: Mapping[str, Any] | None) -> bool:
    """Whether a network (``with_redshift``) or a baseline (``z`` among its features)
    sees the spectroscopic redshift."""
    settings = settings or {}
    return bool(settings.get("with_redshift")) or "z" in (settings.get("features") or ())


def image_gain(table: pd.DataFrame, network: str, baselines: Sequence[str],
               targets: Sequence[str]) -> pd.DataFrame:
    """Per target and baseline: network vs baseline MAE and sigma, and the fractional
    improvement 1 - network / baseline (positive: the images help)."""
    by_name = table.set_index("experiment")
    if network not in by_name.index:
        raise ValueError(f"image gain: '{network}' is not in Table 1")
    rows = []
    for t in targets:
        short = SHORT.get(t, t)
        for base in baselines:
            if base not in by_name.index:
                raise ValueError(f"image gain: baseline '{base}' is not in Table 1")
            row = {"target": t, "network": network, "baseline": base}
            for key in ("MAE", "sigma"):
                net, ref = by_name.at[network, f"{short}_{key}"], by_name.at[base, f"{short}_{key}"]
                row[f"{key}_network"], row[f"{key}_baseline"] = net, ref
                row[f"{key}_gain"] = 1.0 - net / ref if ref > 0 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def table2(predictions: pd.DataFrame, targets: Sequence[str], *,
           size_bins: Sequence[float], redshift_bins: Sequence[float],
           outlier_dex: float = 0.3) -> pd.DataFrame:
    """Metrics by galaxy radius (arcsec, paper Fig. 13), redshift (Fig. 14) and DR9
    TYPE (Fig. 15, Table 2), stacked in one long table (column ``by``)."""
    parts = [grouped_metrics(predictions, targets, "radius_arcsec", size_bins,
                             outlier_dex=outlier_dex),
             grouped_metrics(predictions, targets, "z", redshift_bins, outlier_dex=outlier_dex),
             grouped_metrics(predictions, targets, "TYPE", None, outlier_dex=outlier_dex)]
    return pd.concat(parts, ignore_index=True)


def like_for_like(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(network, baseline) pairs that see the same catalogue quantities: every network
    against every baseline with the same ``redshift`` flag (the mean baseline sees
    nothing and is paired with every network)."""
    nets = table[table["kind"] == "network"]
    bases = table[table["kind"] == "baseline"]
    return [(n.experiment, b.experiment) for n in nets.itertuples() for b in bases.itertuples()
            if b.redshift == n.redshift or b.backbone == "mean"]
