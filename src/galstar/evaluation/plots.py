"""Figures shared by the methods: predicted vs reference, distributions, uncertainty
bins, metrics by group, ablations, learning curves (GalEffNet Figs 7, 8, 9, 11-15).

Every function takes tables (never models) and writes one PNG atomically. Figures
use matplotlib's constrained layout, so that labels, colour bars and panels never
overlap, and every axis names its quantity and unit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from galstar.evaluation.metrics import SHORT, prediction_targets, regression_metrics  # noqa: E402
from galstar.io import atomic_path  # noqa: E402

__all__ = ["LABELS", "GROUP_LABELS", "experiment_figures", "ablation_figure", "plot_learning_curve",
           "plot_pred_vs_ref", "plot_distributions",
           "plot_uncertainty_bins", "plot_ablation", "plot_metrics_by_group"]

LABELS = {"lgm_fib_p50": r"$\log M_*$ [M$_\odot$]",
          "specsfr_fib_p50": r"$\log$ sSFR [yr$^{-1}$]",
          "log_sigma_sfr": r"$\log \Sigma_{\rm SFR}$ [M$_\odot$ yr$^{-1}$ kpc$^{-2}$]"}

#: Axis label of each grouping column of the per-group metrics (Table 2).
GROUP_LABELS = {"radius_arcsec": "galaxy radius [arcsec]", "z": "redshift",
                "TYPE": "DR9 morphological TYPE"}


def _figure(n_panels: int, width: float, height: float, **kwargs) -> tuple[plt.Figure, list]:
    """A row of ``n_panels`` axes (``width`` x ``height`` inches each), constrained layout."""
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height),
                             layout="constrained", squeeze=False, **kwargs)
    return fig, list(axes[0])


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_learning_curve(history: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Training and validation loss per epoch, best epoch marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
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
    """Fig. 7: predicted vs reference density per target, its metrics in the panel's
    title and the residual histogram in a panel below (nothing drawn over the data)."""
    rows = pred[pred["split"] == split]
    fig = plt.figure(figsize=(5.4 * len(targets), 6.6), layout="constrained")
    grid = fig.add_gridspec(2, len(targets), height_ratios=[3.2, 1])
    for k, t in enumerate(targets):
        ax, below = fig.add_subplot(grid[0, k]), fig.add_subplot(grid[1, k])
        x, y = rows[t + "_true"].to_numpy(), rows[t + "_pred"].to_numpy()
        lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
        pad = 0.03 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        cells = ax.hexbin(x, y, gridsize=40, bins="log", cmap="viridis",
                          extent=(lo, hi, lo, hi), mincnt=1)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal",
               xlabel="reference " + LABELS.get(t, t), ylabel="predicted " + LABELS.get(t, t))
        bar = fig.colorbar(cells, ax=ax, label="galaxies per cell", shrink=0.85)
        counts = LogFormatter(labelOnlyBase=False)  # "6", not "6 x 10^0"
        bar.ax.yaxis.set_major_formatter(counts)
        bar.ax.yaxis.set_minor_formatter(counts)
        m = regression_metrics(x, y, outlier_dex)
        ax.set_title(f"N = {m['N']}   MAE = {m['MAE']:.3f}   $\\sigma$ = {m['sigma']:.3f}\n"
                     f"$f_{{\\rm out}}$ = {m['f_out']:.3f}   bias = {m['bias']:+.3f}",
                     fontsize=10)
        below.hist(y - x, bins=40, color="tab:blue")
        for v, style in ((0, "--"), (-outlier_dex, ":"), (outlier_dex, ":")):
            below.axvline(v, color="k", ls=style, lw=0.8)
        below.set(xlabel=r"residual $\Delta$ = predicted $-$ reference [dex]", ylabel="N")
    _save(fig, path)


def plot_distributions(pred: pd.DataFrame, targets: Sequence[str], path: str | os.PathLike,
                       split: str = "test") -> None:
    """Fig. 8: histograms of reference and predicted values."""
    rows = pred[pred["split"] == split]
    fig, axes = _figure(len(targets), 5, 3.8)
    for ax, t in zip(axes, targets, strict=True):
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
    fig, axes = _figure(len(targets), 5, 3.8)
    for ax, t in zip(axes, targets, strict=True):
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
    fig, axes = _figure(len(targets), 5, 3.8)
    sub = table.set_index(kind).reindex(list(order))
    x = np.arange(len(order))
    for ax, t in zip(axes, targets, strict=True):
        short = SHORT.get(t, t)
        ax.plot(x, sub[f"{short}_MAE"], "o-", label="MAE")
        ax.plot(x, sub[f"{short}_sigma"], "s-", label=r"$\sigma$")
        ax.set_xticks(x, [str(v) for v in order])
        ax.set(xlabel="bands" if kind == "bands" else "resolution [px]", ylabel="error [dex]",
               title=LABELS.get(t, t))
        ax.legend()
    _save(fig, path)


def plot_metrics_by_group(table2: pd.DataFrame, by: str, path: str | os.PathLike) -> None:
    """Figs 13-15: MAE and sigma per group of ``by`` (radius, redshift or TYPE), each
    group's size N under its name."""
    rows = table2[(table2["by"] == by)]
    targets = list(dict.fromkeys(rows["target"]))
    fig, axes = _figure(len(targets), 5.5, 4.0)
    for ax, t in zip(axes, targets, strict=True):
        r = rows[rows["target"] == t]
        x = np.arange(len(r))
        ax.bar(x - 0.2, r["MAE"], width=0.4, label="MAE")
        ax.bar(x + 0.2, r["sigma"], width=0.4, label=r"$\sigma$")
        ax.set_xticks(x, [f"{g}\nN={n}" for g, n in zip(r["group"], r["N"], strict=True)],
                      fontsize=8)
        top = np.nanmax(np.r_[r["MAE"], r["sigma"], 0.0])
        ax.set_ylim(0, 1.25 * top if top > 0 else 1)  # room for the legend above the bars
        ax.set(ylabel="error [dex]", title=LABELS.get(t, t), xlabel=GROUP_LABELS.get(by, by))
        ax.legend(loc="upper left", ncols=2)
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
