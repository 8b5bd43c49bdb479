"""Pseudo-continuum of a spectrum: an iterative, sigma-clipped upper envelope.

M dwarfs have no clean continuum (molecular bands everywhere), so the estimate is an
envelope: the spectrum is cut into blocks of ``block`` pixels; in each block the
``percentile``-th percentile of the pixels still accepted is an anchor (at the block's
mean ln lambda); a natural cubic spline through the anchors is the continuum. Pixels
more than ``clip_low`` robust sigmas below it (absorption) or ``clip_high`` above it
(spikes) are dropped and the anchors recomputed, ``iterations`` times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Continuum", "estimate_continuum"]


@dataclass(frozen=True)
class Continuum:
    """A continuum estimate.

    Attributes
    ----------
    continuum : numpy.ndarray
        Continuum at every pixel, in the units of the flux.
    accepted : numpy.ndarray
        bool, pixels that survived the clipping (the "continuum pixels").
    """

    continuum: np.ndarray
    accepted: np.ndarray


def estimate_continuum(wavelength: np.ndarray, flux: np.ndarray, block: int = 512,
                       percentile: float = 90.0, iterations: int = 3,
                       clip_low: float = 2.0, clip_high: float = 3.0) -> Continuum:
    """Estimate the upper-envelope continuum.

    Parameters
    ----------
    wavelength : numpy.ndarray
        Increasing wavelengths [Angstrom].
    flux : numpy.ndarray
        Finite flux, same length.
    block : int
        Pixels per anchor block; wider than the broadest absorption feature to ride
        over (512 px of a 16384-px VIS grid is ~130 A).
    percentile : float
        Percentile of the accepted pixels that sets each anchor (90: near the top,
        robust to a few spikes).
    iterations : int
        Clipping rounds after the first estimate.
    clip_low, clip_high : float
        Clipping limits below / above the continuum, in robust sigmas (1.4826 MAD).

    Returns
    -------
    Continuum
    """
    # here, not at the top: scipy.interpolate costs 0.4 s and the DAG's parse imports the package
    from scipy.interpolate import CubicSpline

    x = np.log(np.asarray(wavelength, dtype=np.float64))
    y = np.asarray(flux, dtype=np.float64)
    n = y.size
    n_blocks = max(1, n // block)
    edges = np.linspace(0, n, n_blocks + 1).astype(int)
    # Equal-length blocks as one (n_blocks, width) array; the remainder joins the last.
    width = edges[1] - edges[0]
    main = n_blocks * width
    accepted = np.ones(n, dtype=bool)
    continuum = np.full(n, np.median(y))
    xb = _block_mean(x, main, width, n_blocks)
    for _ in range(iterations + 1):
        anchors = _anchors(np.where(accepted, y, np.nan), main, width, n_blocks, percentile)
        ok = np.isfinite(anchors)
        if ok.sum() >= 4:
            continuum = CubicSpline(xb[ok], anchors[ok], bc_type="natural")(x)
        elif ok.any():
            continuum = np.interp(x, xb[ok], anchors[ok])
        resid = y - continuum
        scale = 1.4826 * np.median(np.abs(resid[accepted] - np.median(resid[accepted])))
        if not scale > 0:
            break
        new = (resid > -clip_low * scale) & (resid < clip_high * scale)
        # an empty set (a noiseless model whose spline passes above every pixel) keeps the
        # last non-empty one: the baseline fit downstream needs continuum pixels
        if np.array_equal(new, accepted) or not new.any():
            break
        accepted = new
    return Continuum(continuum=continuum, accepted=accepted)


def _anchors(masked: np.ndarray, main: int, width: int, n_blocks: int, percentile: float
             ) -> np.ndarray:
    """Percentile of each block's accepted pixels (NaN for a block with none)."""
    anchors = _nan_percentile_rows(masked[:main].reshape(n_blocks, width), percentile)
    if main < masked.size:  # the remainder joins the last block
        anchors[-1] = _nan_percentile_rows(masked[(n_blocks - 1) * width:][None, :],
                                           percentile)[0]
    return anchors


def _nan_percentile_rows(a: np.ndarray, q: float) -> np.ndarray:
    """``np.nanpercentile(a, q, axis=1)`` (linear method) by one sort: NaNs sort last,
    so each row's valid values are its first ``count`` entries. ~20x faster than
    nanpercentile, which loops over rows in Python."""
    ordered = np.sort(a, axis=1)
    count = np.sum(np.isfinite(a), axis=1)
    pos = (np.maximum(count, 1) - 1) * (q / 100.0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    frac = pos - lo
    rows = np.arange(a.shape[0])
    out = ordered[rows, lo] * (1 - frac) + ordered[rows, hi] * frac
    return np.where(count > 0, out, np.nan)


def _block_mean(x: np.ndarray, main: int, width: int, n_blocks: int) -> np.ndarray:
    means = x[:main].reshape(n_blocks, width).mean(axis=1)
    if main < x.size:
        means[-1] = x[(n_blocks - 1) * width:].mean()
    return means
