"""Iterative intermeans (isodata) threshold, iterated to its fixed point.

Starting from ``T0 = (max + min) / 2``, the threshold is updated to the mean of the
two class means, ``T_{k+1} = (mean(x > T_k) + mean(x <= T_k)) / 2``, until it stops
moving. The published GalEffNet code stopped after a single update; a single update
from the mid-range start sits far above the fixed point whenever one bright source
sets the maximum, which drops faint targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IsodataResult", "isodata_threshold"]


@dataclass(frozen=True)
class IsodataResult:
    """Outcome of the isodata iteration.

    Attributes
    ----------
    threshold : float
        Final threshold, in the units of the input image.
    n_iter : int
        Updates performed.
    converged : bool
        True when the last update moved the threshold by at most the tolerance.
    """

    threshold: float
    n_iter: int
    converged: bool


def isodata_threshold(
    values: np.ndarray, tol: float = 1e-4, max_iter: int = 100
) -> IsodataResult:
    """Iterate the intermeans threshold to convergence.

    Parameters
    ----------
    values : numpy.ndarray
        Pixel values (any shape; non-finite values are ignored).
    tol : float
        Convergence tolerance on the threshold, in the units of ``values``.
    max_iter : int
        Bound on the number of updates (the iteration is monotone for a fixed
        histogram, so the bound only matters for pathological inputs).

    Returns
    -------
    IsodataResult
        Threshold, iterations and whether it converged. A constant image returns
        its value with ``n_iter = 0`` and ``converged = True``.

    Raises
    ------
    ValueError
        If ``values`` holds no finite value.
    """
    x = np.asarray(values, dtype=np.float32).ravel()
    if not np.all(np.isfinite(x)):
        x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("isodata_threshold needs at least one finite value")
    lo, hi = float(x.min()), float(x.max())
    t = 0.5 * (lo + hi)
    if hi - lo <= tol:
        return IsodataResult(threshold=t, n_iter=0, converged=True)
    # Sums via the total avoid a second masked pass per iteration.
    total = float(x.sum(dtype=np.float64))
    n = x.size
    for k in range(1, max_iter + 1):
        fg = x > t
        n_fg = int(np.count_nonzero(fg))
        if n_fg == 0 or n_fg == n:  # cannot happen for lo <= t < hi; guard anyway
            return IsodataResult(threshold=t, n_iter=k - 1, converged=False)
        s_fg = float(x[fg].sum(dtype=np.float64))
        t_new = 0.5 * (s_fg / n_fg + (total - s_fg) / (n - n_fg))
        if abs(t_new - t) <= tol:
            return IsodataResult(threshold=t_new, n_iter=k, converged=True)
        t = t_new
    return IsodataResult(threshold=t, n_iter=max_iter, converged=False)
