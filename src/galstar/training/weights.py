"""Sample weights for imbalanced regression: label distribution smoothing (LDS).

Yang et al. (2021, "Delving into Deep Imbalanced Regression"): the empirical label
histogram is convolved with a Gaussian kernel, because nearby labels inform each other,
and each sample is weighted by the inverse (or inverse square root) of that smoothed
density at its label, so the sparse tail (low Sigma_SFR) counts more in the loss.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["POWERS", "cap_at_mean_one", "lds_weights", "smoothed_label_density"]

#: Weighting by the smoothed density d: "inverse" -> 1/d, "inverse_sqrt" -> 1/sqrt(d).
POWERS = {"inverse": 1.0, "inverse_sqrt": 0.5}


def smoothed_label_density(labels: np.ndarray, bins: int = 50, sigma: float = 2.0,
                           value_range: tuple[float, float] | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Gaussian-smoothed label histogram and the bin of each label.

    Parameters
    ----------
    labels : numpy.ndarray
        Finite labels, shape (N,).
    bins : int
        Number of equal-width bins over ``value_range``.
    sigma : float
        Kernel standard deviation in bins (0: no smoothing). The kernel is truncated at
        4 sigma and sees zero counts beyond the range (``mode="constant"``), as in Yang
        et al.'s implementation, so the edge bins get a lower density.
    value_range : (float, float), optional
        Histogram range (default: min and max of ``labels``); labels outside it fall in
        the edge bins.

    Returns
    -------
    edges : numpy.ndarray
        Bin edges, shape (bins + 1,).
    density : numpy.ndarray
        Smoothed counts per bin, shape (bins,).
    index : numpy.ndarray
        Bin of each label, shape (N,).
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    if y.size == 0:
        raise ValueError("no labels to weight")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{int(np.sum(~np.isfinite(y)))} non-finite label(s): reject them "
                         "before weighting")
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if float(sigma) < 0:
        raise ValueError(f"sigma must be >= 0 (bins), got {sigma}")
    lo, hi = (float(y.min()), float(y.max())) if value_range is None else map(float,
                                                                              value_range)
    if hi <= lo:  # every label equal: one bin holds them all
        hi = lo + 1.0
    edges = np.linspace(lo, hi, int(bins) + 1)
    index = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, int(bins) - 1)
    counts = np.bincount(index, minlength=int(bins)).astype(np.float64)
    density = gaussian_filter1d(counts, float(sigma), mode="constant") if sigma > 0 else counts
    return edges, density, index


def cap_at_mean_one(weights: np.ndarray, cap: float | None) -> np.ndarray:
    """Scale positive weights to mean 1 with no weight above ``cap``.

    The weights are multiplied by one factor s and clipped: w' = min(s w, cap), with s
    chosen so that mean(w') = 1 exactly (water-filling). The weights at the cap stay
    there; all others keep their ratios. s is found by growing the set of capped
    weights until it is self-consistent, at most N iterations (usually 2-3).

    Raises
    ------
    ValueError
        ``cap`` < 1 (mean 1 is then impossible).
    """
    w = np.asarray(weights, dtype=np.float64)
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be finite and positive")
    n = w.size
    if cap is None:
        return w * (n / w.sum())
    cap = float(cap)
    if cap < 1.0:
        raise ValueError(f"cap must be >= 1 for weights of mean 1, got {cap}")
    capped = np.zeros(n, dtype=bool)
    while True:
        free = ~capped
        if not free.any():  # only when cap == 1: every weight is 1
            return np.full(n, cap)
        scale = (n - cap * capped.sum()) / w[free].sum()
        now = capped | (scale * w >= cap)
        if np.array_equal(now, capped):
            return np.where(capped, cap, scale * w)
        capped = now


def lds_weights(labels: np.ndarray, *, bins: int = 50, sigma: float = 2.0,
                power: str = "inverse_sqrt", cap: float | None = 10.0,
                value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Label-distribution-smoothing weights, mean 1, none above ``cap``.

    Parameters
    ----------
    labels : numpy.ndarray
        Training labels, shape (N,); must be finite.
    bins : int
        Histogram bins over the label range (50).
    sigma : float
        Gaussian kernel standard deviation, in bins (2).
    power : {"inverse_sqrt", "inverse"}
        Weight 1/sqrt(d) or 1/d of the smoothed density d at each label.
    cap : float or None
        Largest allowed weight (>= 1; None: no cap). After normalising to mean 1, the
        weights are capped and the uncapped ones rescaled by one common factor so the
        mean is exactly 1 again with every weight <= cap (:func:`cap_at_mean_one`).
    value_range : (float, float), optional
        Histogram range (default: the labels' min and max).

    Returns
    -------
    numpy.ndarray
        float64 weights, shape (N,), mean 1 (to rounding).
    """
    if power not in POWERS:
        raise ValueError(f"power must be one of {sorted(POWERS)}, got '{power}'")
    _, density, index = smoothed_label_density(labels, bins, sigma, value_range)
    # every label's own bin has count >= 1 and the kernel's centre weight is > 0
    w = density[index] ** -POWERS[power]
    return cap_at_mean_one(w, cap)
