"""Figures of the Sigma_SFR method: residuals against true Sigma_SFR, predicted vs true."""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galstar.evaluation.metrics import regression_metrics  # noqa: E402
from galstar.io import atomic_path  # noqa: E402
from galstar.methods.sigma_sfr import TARGET, TARGET_LABEL, _columns, binned_residuals, low_mask  # noqa: E402,F401

__all__ = ["plot_residuals_vs_true", "plot_pred_vs_true"]


# --------------------------------------------------------------------------- figures


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _panels(n: int, sharey: bool) -> tuple[plt.Figure, np.ndarray]:
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows), squeeze=False,
                             sharex=True, sharey=sharey, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_residuals_vs_true(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike,
                           split: str = "test", n_bins: int = 8, low_fraction: float = 0.2,
                           target: str = TARGET) -> None:
    """Residual against true log Sigma_SFR per experiment: points, binned median, 16-84%.

    The low set (:func:`low_mask`) is shaded; a median line bending to follow
    -(true - median) at the low end is the collapse-to-the-median signature.
    """
    if not predictions:
        raise ValueError("no experiments to plot")
    fig, axes = _panels(len(predictions), sharey=True)
    for ax, (name, frame) in zip(axes, predictions.items(), strict=False):
        p, t = _columns(frame, target, split)
        ax.plot(t, p - t, ".", ms=2, color="0.6", alpha=0.6, rasterized=True)
        if t.size:
            stats = binned_residuals(p, t, n_bins, low_fraction)
            bins = stats[stats["bin"] != "low"]
            full = bins[bins["N"] > 0]
            mid = 0.5 * (full["lo"] + full["hi"])
            ax.fill_between(mid, full["p16"], full["p84"], color="C0", alpha=0.25,
                            label="16-84%")
            ax.plot(mid, full["median"], "o-", color="C0", ms=3, label="median")
            low = stats[stats["bin"] == "low"].iloc[0]
            ax.axvspan(low["lo"], low["hi"], color="C3", alpha=0.08,
                       label=f"lowest {low_fraction:.0%}")
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set(title=name, xlabel="true " + TARGET_LABEL, ylabel="predicted - true [dex]")
    axes[0].legend(fontsize=8, loc="upper right")
    _save(fig, path)


def plot_pred_vs_true(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike,
                      split: str = "test", target: str = TARGET) -> None:
    """Predicted against true log Sigma_SFR per experiment, with the 1:1 line and MAE."""
    if not predictions:
        raise ValueError("no experiments to plot")
    fig, axes = _panels(len(predictions), sharey=True)
    for ax, (name, frame) in zip(axes, predictions.items(), strict=False):
        p, t = _columns(frame, target, split)
        ax.plot(t, p, ".", ms=2, color="C0", alpha=0.5, rasterized=True)
        if t.size:
            lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            m = regression_metrics(t, p)
            ax.text(0.04, 0.96, f"N = {m['N']}\nMAE = {m['MAE']:.3f}\n"
                    f"$\\sigma$ = {m['sigma']:.3f}", transform=ax.transAxes, va="top",
                    fontsize=8)
        ax.set(title=name, xlabel="true " + TARGET_LABEL, ylabel="predicted " + TARGET_LABEL)
    _save(fig, path)
