"""The scalar sky of a cutout: median level and MAD-based RMS away from its sources.

The blend passes (:mod:`galstar.imaging.blend`, :mod:`galstar.imaging.asymmetry`)
threshold and score against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from photutils.background import MADStdBackgroundRMS, MedianBackground

__all__ = ["BackgroundEstimate", "estimate_background"]


@dataclass(frozen=True)
class BackgroundEstimate:
    """Scalar sky level and RMS of a flux image (nanomaggies)."""

    level: float
    rms: float


_MEDIAN = MedianBackground(sigma_clip=None)
_MADSTD = MADStdBackgroundRMS(sigma_clip=None)
#: 1 / Phi^-1(0.75), astropy's mad_std factor
_MAD_TO_STD = 1.482602218505602


def estimate_background(flux: np.ndarray, source_pixels: np.ndarray) -> BackgroundEstimate:
    """Sky level (median) and RMS (MAD standard deviation) away from sources.

    The pixels of the isodata foreground, grown by a few pixels, are excluded, so
    the estimate needs no sigma clipping (the costly part of a photutils
    ``Background2D``); the cutout is small enough for a scalar sky.

    Parameters
    ----------
    flux : numpy.ndarray
        (H, W) flux image, nanomaggies.
    source_pixels : numpy.ndarray
        (H, W) bool, True on pixels that belong to sources.

    Returns
    -------
    BackgroundEstimate
        Level and RMS; the RMS is floored at a tiny positive value.
    """
    grown = cv2.dilate(source_pixels.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    sky = flux[~grown]
    if sky.size < 100:  # sources everywhere: fall back to the whole image
        sky = flux.ravel()
    # Every third sky pixel: thousands remain (statistically ample), at a third the cost.
    sky = sky[:: 3 if sky.size >= 3000 else 1]
    if np.isfinite(sky).all():
        # photutils' MedianBackground and MADStdBackgroundRMS without sigma clipping are
        # these medians (NaN-ignoring ones, of NaN-free pixels): one median, not three
        median = _median(sky)
        level = float(median)
        rms = float(_median(np.abs(sky - median)) * _MAD_TO_STD)
    else:
        level = float(_MEDIAN(sky))
        rms = float(_MADSTD(sky))
    return BackgroundEstimate(level=level, rms=max(rms, 1e-12))


def _median(values: np.ndarray) -> np.floating:
    """``np.median`` of a finite 1-D array, the same value, from a full sort.

    NumPy's vectorised sort of a few thousand float32 values takes a fraction of the
    time of the partition behind ``np.median``; the middle order statistics are the
    same, and so is their mean (the sum of the two, halved, in the array's dtype).
    """
    ordered = np.sort(values)
    half = ordered.size // 2
    if ordered.size % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2
