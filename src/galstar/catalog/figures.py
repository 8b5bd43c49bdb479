"""Figures of the cross-match stage."""

from __future__ import annotations

import os

import numpy as np

from galstar.io import atomic_path

__all__ = ["plot_separation"]


def plot_separation(
    sep_arcsec: np.ndarray, radius_arcsec: float, path: str | os.PathLike, bins: int = 60
) -> None:
    """Histogram of MPA-JHU to DR9 separations, with the match radius marked.

    Parameters
    ----------
    sep_arcsec : numpy.ndarray
        Separations of the kept pairs [arcsec].
    radius_arcsec : float
        Match radius [arcsec], drawn as a vertical line and used as the x range.
    path : str or os.PathLike
        Output PNG, written atomically.
    bins : int
        Number of histogram bins over [0, radius].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sep = np.asarray(sep_arcsec, dtype=float)
    sep = sep[np.isfinite(sep)]
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.hist(sep, bins=np.linspace(0.0, radius_arcsec, bins + 1), color="tab:blue")
    ax.axvline(radius_arcsec, color="k", ls="--", lw=1, label=f"radius {radius_arcsec:g}\"")
    if sep.size:
        med = float(np.median(sep))
        ax.axvline(med, color="tab:orange", lw=1, label=f"median {med:.2f}\"")
    ax.set_xlabel("separation MPA-JHU to DR9 [arcsec]")
    ax.set_ylabel("galaxies")
    ax.set_title(f"{sep.size} cross-matched galaxies")
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
