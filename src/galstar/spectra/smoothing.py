"""Savitzky-Golay smoothing with window and polynomial order chosen by BIC.

For a candidate (window w, order p) the smoothed spectrum is ``savgol_filter(y, w, p)``
and ``BIC = n ln(RSS / n) + k ln n``, with RSS the residual sum of squares and k the
smoother's effective number of parameters, the trace of its hat matrix: n times the
filter's central coefficient (exact away from the two edges). A noisier spectrum gains
less from following the data closely, so BIC moves to a wider window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["SavgolChoice", "choose_savgol", "savgol_bic"]


@lru_cache(maxsize=256)
def _central_weight(window: int, polyorder: int) -> float:
    # here, not at the top: scipy.signal costs 0.3 s and the DAG's parse imports the package
    from scipy.signal import savgol_coeffs

    return float(savgol_coeffs(window, polyorder)[window // 2])


def savgol_bic(flux: np.ndarray, window: int, polyorder: int) -> tuple[np.ndarray, float]:
    """Smooth with one (window, polyorder) and return the smoothed flux and its BIC.

    Parameters
    ----------
    flux : numpy.ndarray
        Finite, uniformly sampled 1-d flux.
    window : int
        Odd window length in pixels, > polyorder.
    polyorder : int
        Polynomial order.

    Returns
    -------
    smoothed : numpy.ndarray
        ``savgol_filter(flux, window, polyorder, mode="mirror")``: mirrored edges, not
        the default edge polynomial fits, which cost more than the filter itself.
    bic : float
        Bayesian information criterion of the fit (lower is better).
    """
    from scipy.signal import savgol_filter

    n = flux.size
    smoothed = savgol_filter(flux, window, polyorder, mode="mirror")
    resid = flux - smoothed
    # einsum, not np.dot: a threaded BLAS call costs milliseconds on a busy machine.
    rss = float(np.einsum("i,i->", resid, resid))
    k = n * _central_weight(window, polyorder)
    # A perfect fit (noise-free input) would give ln 0; floor it at float precision.
    rss = max(rss, n * np.finfo(np.float64).tiny)
    return smoothed, n * np.log(rss / n) + k * np.log(n)


@dataclass(frozen=True)
class SavgolChoice:
    """The BIC winner and every candidate's score.

    Attributes
    ----------
    window, polyorder : int
        Chosen parameters.
    bic : float
        Its BIC.
    smoothed : numpy.ndarray
        The flux smoothed with them.
    scores : tuple of (int, int, float)
        (window, polyorder, BIC) of each candidate tried.
    """

    window: int
    polyorder: int
    bic: float
    smoothed: np.ndarray
    scores: tuple[tuple[int, int, float], ...]


def choose_savgol(flux: np.ndarray, windows: Sequence[int], polyorders: Sequence[int]
                  ) -> SavgolChoice:
    """Try every valid (window, polyorder) pair and keep the lowest BIC.

    Parameters
    ----------
    flux : numpy.ndarray
        Finite, uniformly sampled 1-d flux.
    windows : sequence of int
        Candidate odd window lengths [pixels]; even ones or ones longer than the
        spectrum are skipped.
    polyorders : sequence of int
        Candidate polynomial orders; pairs with ``polyorder >= window - 1`` (filters
        that return the data unchanged) are skipped.

    Returns
    -------
    SavgolChoice

    Raises
    ------
    ValueError
        If no candidate pair is valid for this spectrum, or ``flux`` is not finite.
    """
    flux = np.asarray(flux, dtype=np.float64)
    if not np.all(np.isfinite(flux)):
        raise ValueError("choose_savgol: flux has non-finite values")
    best = None
    scores = []
    for window in windows:
        if window % 2 == 0 or window > flux.size:
            continue
        for polyorder in polyorders:
            if polyorder >= window - 1:  # window <= polyorder + 1 reproduces the data
                continue
            smoothed, bic = savgol_bic(flux, int(window), int(polyorder))
            scores.append((int(window), int(polyorder), bic))
            if best is None or bic < best[2]:
                best = (int(window), int(polyorder), bic, smoothed)
    if best is None:
        raise ValueError(f"choose_savgol: no valid (window, polyorder) among windows "
                         f"{list(windows)} and orders {list(polyorders)} for {flux.size} "
                         "pixels")
    return SavgolChoice(window=best[0], polyorder=best[1], bic=best[2], smoothed=best[3],
                        scores=tuple(scores))
