"""Blend detection inside the target's enlarged ellipse, in two passes.

Pass 1 (photutils): segmentation of the background-subtracted flux image inside the
mask, smoothed with a Gaussian kernel (FWHM 3 px) and thresholded at ``n_sigma`` x the
background RMS; the target's segment is deblended by multi-thresholding, and more than
one component = blended. Other segments (neighbours inside the ellipse whose isophotes
do not touch the target's) are masked out instead of rejecting the target.
It runs only on the bounding box of the mask, which is all it can ever see, so it
costs a small fraction of a full-cutout pass.

Pass 2 (connectivity): the masked greyscale is re-thresholded with isodata computed on
the pixels inside the mask only, and OpenCV counts connected regions; more than one
region larger than ``min_region_px`` = blended. Two nuclei that the first pass merged
(a saddle too shallow for its contrast criterion) separate here because the threshold
is set by the target's own light rather than by the sky.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from photutils.background import MADStdBackgroundRMS, MedianBackground
from photutils.segmentation import deblend_sources, detect_sources, make_2dgaussian_kernel

from galstar.imaging.threshold import isodata_threshold

__all__ = [
    "BlendConfig",
    "BackgroundEstimate",
    "estimate_background",
    "count_sources_photutils",
    "count_regions_connectivity",
]


@dataclass(frozen=True)
class BlendConfig:
    """Settings of both blend passes (paper defaults, see REFERENCE.md).

    Attributes
    ----------
    nsigma : float
        Detection threshold in units of the background RMS.
    npixels : int
        Fewest connected pixels of a source (detection and deblending).
    nlevels : int
        Multi-thresholding levels of the deblending.
    contrast : float
        Fraction of the total flux a deblended component must hold.
    kernel_fwhm_px : float
        FWHM of the Gaussian smoothing kernel, px.
    kernel_size_px : int
        Side of the (odd) kernel array, px.
    min_region_px : int
        Connectivity pass: a region counts only if it has more pixels than this.
    """

    nsigma: float = 1.5
    npixels: int = 10
    nlevels: int = 32
    contrast: float = 0.001
    kernel_fwhm_px: float = 3.0
    kernel_size_px: int = 5
    min_region_px: int = 3


@dataclass(frozen=True)
class BackgroundEstimate:
    """Scalar sky level and RMS of a flux image (nanomaggies)."""

    level: float
    rms: float


@functools.lru_cache(maxsize=8)
def _kernel(fwhm: float, size: int) -> np.ndarray:
    return make_2dgaussian_kernel(fwhm, size=size).array.astype(np.float32)


_MEDIAN = MedianBackground(sigma_clip=None)
_MADSTD = MADStdBackgroundRMS(sigma_clip=None)


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
    level = float(_MEDIAN(sky))
    rms = float(_MADSTD(sky))
    return BackgroundEstimate(level=level, rms=max(rms, 1e-12))


def count_sources_photutils(
    flux: np.ndarray,
    mask: np.ndarray,
    background: BackgroundEstimate,
    config: BlendConfig,
    rows: slice,
    cols: slice,
) -> tuple[int, np.ndarray]:
    """Deblended components of the target, and neighbours to mask, inside the mask.

    A source whose segment does not touch the target's (the one at the cutout centre)
    is a neighbour inside the enlarged ellipse, not a blend: its isophote does not
    overlap the target's. Its pixels are returned so the caller can mask them. The
    target's segment is deblended; more than one component = blended.

    Parameters
    ----------
    flux : numpy.ndarray
        (H, W) flux image, nanomaggies.
    mask : numpy.ndarray
        (H, W) bool, True inside the target's enlarged ellipse.
    background : BackgroundEstimate
        Sky level and RMS of ``flux``.
    config : BlendConfig
        Detection and deblending settings.
    rows, cols : slice
        Bounding box of ``mask``.

    Returns
    -------
    (int, numpy.ndarray)
        Components of the target after deblending (0 when nothing passes the
        threshold), and an (H, W) bool map of neighbour pixels (grown by 2 px).
    """
    neighbours = np.zeros(mask.shape, dtype=bool)
    inside = mask[rows, cols]
    data = np.where(inside, flux[rows, cols] - np.float32(background.level), 0.0)
    data = data.astype(np.float32)
    kernel = _kernel(float(config.kernel_fwhm_px), int(config.kernel_size_px))
    smooth = cv2.filter2D(data, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    threshold = config.nsigma * background.rms
    segm = detect_sources(smooth, threshold, n_pixels=config.npixels, mask=~inside)
    if segm is None:
        return 0, neighbours
    labels = segm.data
    cy = (mask.shape[0] - 1) // 2 - rows.start
    cx = (mask.shape[1] - 1) // 2 - cols.start
    target = int(labels[cy, cx]) if 0 <= cy < labels.shape[0] and 0 <= cx < labels.shape[1] else 0
    if target == 0:  # centre below threshold: the segment nearest the centre
        yy, xx = np.nonzero(labels)
        nearest = np.argmin((yy - cy) ** 2 + (xx - cx) ** 2)
        target = int(labels[yy[nearest], xx[nearest]])
    others = (labels != 0) & (labels != target)
    if others.any():
        grown = cv2.dilate(others.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        neighbours[rows, cols] = grown & (labels != target)
    # Multi-thresholding can split a segment only into parts that each hold a local
    # maximum (>= its 8 neighbours); with one such pixel the answer is 1 without it.
    in_target = labels == target
    peaks = (smooth >= cv2.dilate(smooth, np.ones((3, 3), np.uint8))) & in_target
    if np.count_nonzero(peaks) <= 1:
        return 1, neighbours
    if segm.n_labels > 1:
        segm.keep_labels(target, relabel=True)
    deblended = deblend_sources(
        smooth, segm, n_pixels=config.npixels, n_levels=config.nlevels,
        contrast=config.contrast, progress_bar=False,
    )
    return int(deblended.n_labels), neighbours


def count_regions_connectivity(
    grey: np.ndarray,
    mask: np.ndarray,
    config: BlendConfig,
    rows: slice,
    cols: slice,
    tol: float = 1e-4,
    max_iter: int = 100,
) -> tuple[int, float]:
    """Connected bright regions of the masked greyscale, re-thresholded inside it.

    Parameters
    ----------
    grey : numpy.ndarray
        (H, W) greyscale in [0, 1].
    mask : numpy.ndarray
        (H, W) bool, True inside the target's enlarged ellipse.
    config : BlendConfig
        Uses ``min_region_px``.
    rows, cols : slice
        Bounding box of ``mask``.
    tol, max_iter : float, int
        Isodata tolerance and iteration bound.

    Returns
    -------
    (int, float)
        Regions with more than ``min_region_px`` pixels, and the threshold used.
    """
    inside = mask[rows, cols]
    values = grey[rows, cols]
    if not inside.any():
        return 0, float("nan")
    t = isodata_threshold(values[inside], tol=tol, max_iter=max_iter).threshold
    binary = ((values > t) & inside).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background
    return int(np.count_nonzero(areas > config.min_region_px)), float(t)
