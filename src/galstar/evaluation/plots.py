"""Figures shared by the methods: predicted vs reference, distributions, uncertainty
bins, metrics by group, ablations, learning curves (GalEffNet Figs 7, 8, 9, 11-15).

Every function takes tables (never models) and writes one PNG atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galstar.evaluation.metrics import SHORT, prediction_targets, regression_metrics  # noqa: E402
from galstar.io import atomic_path  # noqa: E402

__all__ = ["LABELS", "experiment_figures", "ablation_figure", "plot_learning_curve",
           "plot_pred_vs_ref", "plot_distributions",
           "plot_uncertainty_bins", "plot_ablation", "plot_metrics_by_group"]

LABELS = {"lgm_fib_p50": r"$\log M_*$ [M$_\odot$]",
          "specsfr_fib_p50": r"$\log$ sSFR [yr$^{-1}$]",
          "log_sigma_sfr": r"$\log \Sigma_{\rm SFR}$ [M$_\odot$ yr$^{-1}$ kpc$^{-2}$]"}


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_learning_curve(history: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Training and validation loss per epoch, best epoch marked."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["epoch"], history["loss"], "o-", label="train")
    ax.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    best = (history[history["kept"].astype(bool)].iloc[0] if "kept" in history
            else history.loc[history["val_loss"].idxmin()])
    ax.axvline(best["epoch"], color="grey", ls=":", label=f"kept (epoch {int(best['epoch'])})")
    ax.set(xlabel="epoch", ylabel="loss (scaled labels, with the L2 penalty)", title=title)
    if "val_mae" in history:  # the fit without the L2 penalty
        ax.plot(history["epoch"], history["mae"], "o--", color="C0", alpha=0.5,
                label="train MAE")
        ax.plot(history["epoch"], history["val_mae"], "s--", color="C1", alpha=0.5,
                label="validation MAE")
    ax.legend()
    _save(fig, path)


def plot_pred_vs_ref(pred: pd.DataFrame, targets: Sequence[str], path: str | os.PathLike,
                     outlier_dex: float = 0.3, split: str = "test") -> None:
    """Fig. 7: predicted vs reference density, metrics inset, residual histogram inset."""
    rows = pred[pred["split"] == split]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 5))
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        x, y = rows[t + "_true"].to_numpy(), rows[t + "_pred"].to_numpy()
        lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
        ax.hexbin(x, y, gridsize=40, bins="log", cmap="viridis", extent=(lo, hi, lo, hi),
                  mincnt=1)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        m = regression_metrics(x, y, outlier_dex)
        ax.text(0.03, 0.97, "\n".join([f"N = {m['N']}", f"MAE = {m['MAE']:.3f}",
                                       f"$\\sigma$ = {m['sigma']:.3f}",
                                       f"$f_{{out}}$ = {m['f_out']:.3f}",
                                       f"bias = {m['bias']:+.3f}"]),
                transform=ax.transAxes, va="top", fontsize=9)
        ax.set(xlabel="reference " + LABELS.get(t, t), ylabel="predicted " + LABELS.get(t, t))
        inset = ax.inset_axes([0.6, 0.08, 0.37, 0.3])
        inset.hist(y - x, bins=40, color="tab:blue")
        for v, style in ((0, "--"), (-outlier_dex, ":"), (outlier_dex, ":")):
            inset.axvline(v, color="k", ls=style, lw=0.8)
        inset.set_xlabel(r"$\Delta$ [dex]", fontsize=8)
        inset.tick_params(labelsize=7)
    _save(fig, path)


def plot_distributions(pred: pd.DataFrame, targets: Sequence[str], path: str | os.PathLike,
                       split: str = "test") -> None:
    """Fig. 8: histograms of reference and predicted values."""
    rows = pred[pred["split"] == split]
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.8))
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        bins = np.histogram_bin_edges(np.r_[rows[t + "_true"], rows[t + "_pred"]], bins=40)
        ax.hist(rows[t + "_true"], bins=bins, color="tab:orange", alpha=0.6, label="reference")
        ax.hist(rows[t + "_pred"], bins=bins, color="tab:blue", alpha=0.6, label="predicted")
        ax.set(xlabel=LABELS.get(t, t), ylabel="N")
        ax.legend()
    _save(fig, path)


def plot_uncertainty_bins(binned: pd.DataFrame, path: str | os.PathLike) -> None:
    """Fig. 9: mean MC-dropout 1-sigma per 0.5 dex bin, bars = its standard deviation.

    ``binned`` is the long table of ``binned_sigma`` with a ``target`` column.
    """
    targets = list(dict.fromkeys(binned["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.8))
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        b = binned[(binned["target"] == t) & (binned["N"] > 0)]
        centre = 0.5 * (b["bin_lo"] + b["bin_hi"])
        ax.errorbar(centre, b["mean_sigma"], yerr=b["std_sigma"], fmt="o", capsize=3)
        ax.set(xlabel=LABELS.get(t, t), ylabel=r"mean MC-dropout 1$\sigma$ [dex]")
    _save(fig, path)


def plot_ablation(table: pd.DataFrame, kind: str, order: Sequence, path: str | os.PathLike,
                  targets: Sequence[str]) -> None:
    """Figs 11-12: MAE and sigma against band set (``kind='bands'``) or resolution.

    ``table`` is Table 1 restricted to the base experiment and its ablations; ``order``
    lists the x values in plotting order.
    """
    fig, axes = plt.subplots(1, len(targets), figsize=(5 * len(targets), 3.8))
    sub = table.set_index(kind).reindex(list(order))
    x = np.arange(len(order))
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        short = SHORT.get(t, t)
        ax.plot(x, sub[f"{short}_MAE"], "o-", label="MAE")
        ax.plot(x, sub[f"{short}_sigma"], "s-", label=r"$\sigma$")
        ax.set_xticks(x, [str(v) for v in order])
        ax.set(xlabel="bands" if kind == "bands" else "resolution [px]", ylabel="dex",
               title=LABELS.get(t, t))
        ax.legend()
    _save(fig, path)


def plot_metrics_by_group(table2: pd.DataFrame, by: str, path: str | os.PathLike) -> None:
    """Figs 13-15: MAE and sigma per group of ``by`` (radius, redshift or TYPE)."""
    rows = table2[(table2["by"] == by)]
    targets = list(dict.fromkeys(rows["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 3.8))
    for ax, t in zip(np.atleast_1d(axes), targets, strict=True):
        r = rows[rows["target"] == t]
        x = np.arange(len(r))
        ax.bar(x - 0.2, r["MAE"], width=0.4, label="MAE")
        ax.bar(x + 0.2, r["sigma"], width=0.4, label=r"$\sigma$")
        for xi, n in zip(x, r["N"], strict=True):
            ax.text(xi, 0, f"N={n}", ha="center", va="bottom", fontsize=7, rotation=90)
        ax.set_xticks(x, r["group"], rotation=30, fontsize=8)
        ax.set(ylabel="dex", title=LABELS.get(t, t), xlabel=by)
        ax.legend()
    _save(fig, path)


def experiment_figures(predictions: pd.DataFrame, table2: pd.DataFrame,
                       uncertainty: pd.DataFrame, *, pred_vs_ref: str | os.PathLike,
                       distributions: str | os.PathLike, uncertainty_fig: str | os.PathLike,
                       by_size: str | os.PathLike, by_redshift: str | os.PathLike,
                       by_type: str | os.PathLike, outlier_dex: float = 0.3) -> None:
    """All per-experiment figures (Figs 7, 8, 9, 13, 14, 15) from its tables."""
    targets = prediction_targets(predictions)
    plot_pred_vs_ref(predictions, targets, pred_vs_ref, outlier_dex)
    plot_distributions(predictions, targets, distributions)
    plot_uncertainty_bins(uncertainty, uncertainty_fig)
    plot_metrics_by_group(table2, "radius_arcsec", by_size)
    plot_metrics_by_group(table2, "z", by_redshift)
    plot_metrics_by_group(table2, "TYPE", by_type)


def ablation_figure(table1: pd.DataFrame, base: str, kind: str, order: Sequence,
                    path: str | os.PathLike, targets: Sequence[str]) -> None:
    """Figs 11-12 from Table 1: the base experiment and its ``kind`` ablations."""
    sub = table1[(table1["experiment"] == base) | (table1["ablation_of"] == base)]
    base_row = sub[sub["experiment"] == base].iloc[0]
    other = "resolution" if kind == "bands" else "bands"
    sub = sub[sub[other] == base_row[other]]  # the other knob held at the base value
    present = [v for v in order if v in set(sub[kind])]
    if len(present) < 2:
        raise ValueError(f"ablation figure '{kind}': need the base and at least one "
                         f"ablation in Table 1, found {present}")
    plot_ablation(sub, kind, present, path, targets)
