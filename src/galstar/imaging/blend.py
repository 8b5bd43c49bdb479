"""Blend detection inside the target's enlarged ellipse: segmentation and connectivity.

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

Pass 3, the asymmetry of the target's light, is :mod:`galstar.imaging.asymmetry`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from photutils.segmentation import SegmentationImage, deblend_sources, make_2dgaussian_kernel

from galstar.imaging.background import BackgroundEstimate
from galstar.imaging.threshold import isodata_threshold

__all__ = [
    "BlendConfig",
    "blend_kernel",
    "count_sources_photutils",
    "count_regions_connectivity",
    "kernel_noise_factor",
    "min_prominence",
    "significant_components",
    "smooth",
    "smoothed_flux",
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
    peak_nsigma : float
        A deblended component counts only if its peak rises this many times the
        smoothed sky noise above the saddle joining it to the rest of the target.
    asymmetry_max : float
        Asymmetry pass: blended when the noise-corrected positive residual of the
        180 deg rotation exceeds this fraction of the target's flux; it must also
        confirm the other passes (0 = pass off, the other passes decide alone).
        Calibrated on point-symmetric mock galaxies; real galaxies need a higher value
        (see the module notes).
    centre_step_px : float
        First step of the sub-pixel search for the centre of rotation, px; the step is
        halved down to a quarter pixel. The brightest smoothed pixel of a faint, flat
        core can sit ~2 px from the light centre, and a search that cannot travel
        there leaves a residual that looks like a companion.
    unpaired_max : float
        Asymmetry pass: also blended when the light of the target's detection segment
        that has no point-symmetric counterpart (outside its symmetric footprint)
        exceeds this multiple of the target's symmetric flux: a merged neighbour that
        much brighter lays its wing over the target (0 = off).
    catalog_contamination_max : float
        Catalogue pass: blended when the DR9 neighbours' model flux on the target's
        isophote exceeds this fraction of the target's flux there (0 = off; also
        skipped when no neighbour catalogue is given). See
        :mod:`galstar.imaging.neighbour_model`.
    catalog_confirm_min : float
        With the catalogue pass on and a catalogue given, a blend found by the image
        passes counts only when the catalogue contamination is at least this (0 = they
        stand alone; equal to ``catalog_contamination_max``: the catalogue decides).
        Keep it low where the catalogue may miss or merge close pairs.
    catalog_isophote_nmgy_arcsec2 : float
        Surface brightness (grz summed) of the target isophote that bounds the
        footprint of the catalogue pass, nanomaggies / arcsec^2.
    catalog_radius_arcsec : float
        Neighbours are looked up in the sweeps within this distance of the target
        (cutout half-diagonal, 28", plus the reach of a large neighbour's wing).
    catalog_margin_px : int
        The catalogue pass works on the enlarged ellipse's box grown by this margin,
        px (the isophote can reach beyond the ellipse).
    catalog_psf_beta : float
        Moffat index of the PSF the neighbour models are convolved with (the
        catalogue gives only its FWHM, ``PSFSIZE``).
    catalog_truncation_re : float
        Sersic models are truncated at this many half-light radii.
    catalog_dominance : float
        Where the neighbours' smoothed model exceeds this many isophote levels, the
        target's light is read at the point-symmetric pixel (model errors dominate
        there; see :func:`galstar.imaging.neighbour_model.isophote_contamination`).
    catalog_step_px : int
        The neighbours' model is evaluated every this many px and interpolated.
    catalog_floor : float
        Neighbours whose model stays below this fraction of the isophote everywhere in
        the box are not rendered (even all over a footprint, < 0.1 % of its flux).
    """

    nsigma: float = 1.5
    npixels: int = 10
    nlevels: int = 32
    contrast: float = 0.001
    kernel_fwhm_px: float = 3.0
    kernel_size_px: int = 5
    min_region_px: int = 3
    peak_nsigma: float = 5.0
    asymmetry_max: float = 0.0
    centre_step_px: float = 0.5
    unpaired_max: float = 0.0
    catalog_contamination_max: float = 0.0
    catalog_confirm_min: float = 0.0
    catalog_isophote_nmgy_arcsec2: float = 1.0
    catalog_radius_arcsec: float = 45.0
    catalog_margin_px: int = 8
    catalog_psf_beta: float = 3.5
    catalog_truncation_re: float = 5.0
    catalog_dominance: float = 3.0
    catalog_floor: float = 0.001
    catalog_step_px: int = 2


@functools.lru_cache(maxsize=8)
def blend_kernel(fwhm: float, size: int) -> np.ndarray:
    """The passes' unit-sum Gaussian smoothing kernel, (size, size) float32 (cached)."""
    return make_2dgaussian_kernel(float(fwhm), size=int(size)).array.astype(np.float32)


def kernel_noise_factor(fwhm: float, size: int) -> float:
    """RMS of white noise after smoothing with the unit-sum kernel, per unit input RMS."""
    k = blend_kernel(fwhm, size)
    return float(np.sqrt(np.sum(k.astype(np.float64) ** 2)))


def significant_components(
    smooth: np.ndarray,
    labels: np.ndarray,
    min_prominence: float,
) -> int:
    """Components of a deblended segment that are real peaks, not noise bumps.

    Multi-thresholding splits a segment at every saddle point, however shallow: in a
    large, low-surface-brightness galaxy a noise bump on the smooth body is a local
    maximum and becomes a component. What tells a neighbour from a bump is how far its
    peak rises above the saddle that joins it to the rest of the segment (its
    prominence), in units of the smoothed sky noise: a bump rises by a few sigma, a
    galaxy holding a tenth of the target's flux by tens of sigma. The brightest
    component always counts (it is the target, or dominates it).

    Parameters
    ----------
    smooth : numpy.ndarray
        (H, W) smoothed, background-subtracted flux.
    labels : numpy.ndarray
        (H, W) int labels of the components of one deblended segment (0 = outside).
    min_prominence : float
        Smallest rise of a component's peak above its highest boundary pixel with the
        other components (same units as ``smooth``).

    Returns
    -------
    int
        1 + the number of other components whose prominence reaches ``min_prominence``
        (0 when ``labels`` is empty).
    """
    ids = np.unique(labels)
    ids = ids[ids != 0]
    if ids.size <= 1:
        return int(ids.size)
    peaks = np.array([smooth[labels == k].max() for k in ids])
    order = np.argsort(peaks)[::-1]
    count = 1
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    for i in order[1:]:
        own = labels == ids[i]
        others = (labels != 0) & ~own
        touching = own & (cv2.dilate(others.astype(np.uint8), cross) > 0)
        saddle = float(smooth[touching].max()) if touching.any() else 0.0
        if peaks[i] - saddle >= min_prominence:
            count += 1
    return count


def count_sources_photutils(
    flux: np.ndarray,
    mask: np.ndarray,
    background: BackgroundEstimate,
    config: BlendConfig,
    rows: slice,
    cols: slice,
    smooth: np.ndarray | None = None,
) -> tuple[int, np.ndarray]:
    """Significant components of the target, and neighbours to mask, inside the mask.

    The background-subtracted flux inside the mask (bounding box only) is smoothed with
    the Gaussian kernel and segmented at ``nsigma`` x the sky RMS (``detect_sources``,
    ``npixels`` connected pixels). A segment that does not touch the target's (the one
    at the cutout centre) is a neighbour inside the enlarged ellipse, not a blend: its
    isophote does not overlap the target's. Its pixels are returned so the caller can
    mask them. The target's segment is deblended (``deblend_sources`` with ``nlevels``
    and ``contrast``), and a component counts only when its peak rises
    ``peak_nsigma`` x the smoothed sky noise above the saddle joining it to the rest
    (see :func:`significant_components`). More than one = blended.

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
    smooth : numpy.ndarray, optional
        :func:`smoothed_flux` of the same arguments, when the caller has it (not
        modified).

    Returns
    -------
    (int, numpy.ndarray)
        Significant components of the target (0 when nothing passes the threshold),
        and an (H, W) bool map of neighbour pixels (grown by 2 px).
    """
    neighbours = np.zeros(mask.shape, dtype=bool)
    inside = mask[rows, cols]
    if smooth is None:
        smooth = smoothed_flux(flux, mask, background, config, rows, cols)
    threshold = config.nsigma * background.rms
    labels = _segments(smooth, threshold, config.npixels, inside)
    if labels is None:
        return 0, neighbours
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
    # A second component needs a local maximum (>= its 8 neighbours) whose value
    # exceeds the detection threshold by the prominence it must reach: without two
    # such pixels deblending cannot find a significant component, and is skipped.
    cut = min_prominence(background, config)
    in_target = labels == target
    peaks = ((smooth >= cv2.dilate(smooth, np.ones((3, 3), np.uint8))) & in_target
             & (smooth >= threshold + cut))
    if np.count_nonzero(peaks) <= 1 or not _two_prominent_peaks(smooth, in_target, cut):
        return 1, neighbours
    # the target's segment alone, labelled 1 (as detect_sources + keep_labels give it)
    segm = SegmentationImage(in_target.astype(np.int32))
    deblended = deblend_sources(
        smooth, segm, n_pixels=config.npixels, n_levels=config.nlevels,
        contrast=config.contrast, progress_bar=False,
    )
    if deblended.n_labels <= 1:
        return int(deblended.n_labels), neighbours
    return significant_components(smooth, deblended.data, cut), neighbours


def _segments(smooth: np.ndarray, threshold: float, npixels: int, inside: np.ndarray
              ) -> np.ndarray | None:
    """Segmentation of ``smooth`` as photutils' ``detect_sources`` makes it, or None.

    The pixels above ``threshold`` inside the mask, 8-connected, in segments of at
    least ``npixels`` pixels (smaller ones are zeroed). The same segments as
    ``detect_sources(smooth, threshold, npixels, mask=~inside)``, labelled in another
    order (only which pixels share a segment is used), from one OpenCV labelling
    instead of scipy's labelling, a slice per segment and a relabelling.
    """
    # the comparison photutils makes: float32 data against the Python float threshold
    above = ((smooth > threshold) & inside).astype(np.uint8)
    n, labels = cv2.connectedComponents(above, connectivity=8, ltype=cv2.CV_32S)
    # areas by counting labels: a fraction of the cost of OpenCV's statistics
    keep = np.bincount(labels.ravel(), minlength=n) >= npixels
    keep[0] = False  # the background
    if not keep.any():
        return None
    if not keep[1:].all():
        labels = np.where(keep, np.arange(n, dtype=np.int32), 0)[labels]
    return labels


def _two_prominent_peaks(smooth: np.ndarray, segment: np.ndarray, cut: float) -> bool:
    """Whether the segment may hold a second peak that rises ``cut`` above its saddle.

    The test that lets deblending be skipped without changing its count. A component
    that :func:`significant_components` counts besides the brightest has a peak at
    least ``cut`` above every pixel it shares a 4-neighbour boundary with another
    component, so every 4-connected path inside the segment from that peak to higher
    ground dips to ``cut`` below it or lower: the peak is a 4-local maximum whose
    prominence (dynamic) is at least ``cut``. A local maximum whose 4-connected region
    above (its value - ``cut``) reaches higher ground has a smaller prominence. When
    every local maximum but the brightest does, deblending could count one component
    only.

    Parameters
    ----------
    smooth : numpy.ndarray
        Smoothed, background-subtracted flux (positive on the segment).
    segment : numpy.ndarray
        bool, the target's segment (pixels outside count as 0: lower than any in it).
    cut : float
        The prominence a second component needs (:func:`min_prominence`).

    Returns
    -------
    bool
        False when deblending cannot find a second significant component.
    """
    f = np.ascontiguousarray(np.where(segment, smooth, 0.0), dtype=np.float32)
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    peaks = segment & (f >= cv2.dilate(f, cross, borderType=cv2.BORDER_CONSTANT,
                                       borderValue=0.0)) & (f >= cut)
    ys, xs = np.nonzero(peaks)
    if ys.size <= 1:
        return False
    values = f[ys, xs]
    order = np.argsort(values, kind="stable")[::-1]
    # 4-connected fills of [v - lo, v] and of [v - lo, inf) from a peak of value v have
    # the same area unless the region above v - lo reaches higher ground (lo a hair
    # below cut: a path that dips exactly cut is not taken as reaching it).
    lo = float(cut) * (1.0 - 1e-6)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    shape = (f.shape[0] + 2, f.shape[1] + 2)
    covered = np.zeros(shape, np.uint8)
    for i in order[1:]:
        y, x = int(ys[i]), int(xs[i])
        if covered[y + 1, x + 1]:
            # inside the region of a higher peak that reaches higher ground: so does
            # this one's, which contains that region
            continue
        below = cv2.floodFill(f, np.zeros(shape, np.uint8), (x, y), 0, lo, 0.0, flags)[0]
        region = np.zeros(shape, np.uint8)
        whole = cv2.floodFill(f, region, (x, y), 0, lo, 1e30, flags)[0]
        if whole == below:
            return True
        covered |= region
    return False


def smooth(image: np.ndarray, fwhm_px: float) -> np.ndarray:
    """Gaussian smoothing (FWHM in px; 0 returns the image), edges reflected."""
    if fwhm_px <= 0:
        return image
    sigma = fwhm_px / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT)


def smoothed_flux(
    flux: np.ndarray,
    mask: np.ndarray,
    background: BackgroundEstimate,
    config: BlendConfig,
    rows: slice,
    cols: slice,
) -> np.ndarray:
    """Background-subtracted flux inside the mask, smoothed, on the mask's bounding box.

    Pixels outside the mask are zero before smoothing (the kernel sees only what the
    mask keeps). Returns a float32 array of the bounding box's shape.
    """
    inside = mask[rows, cols]
    data = np.where(inside, flux[rows, cols] - np.float32(background.level), 0.0)
    kernel = blend_kernel(config.kernel_fwhm_px, config.kernel_size_px)
    return cv2.filter2D(data.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)


def min_prominence(background: BackgroundEstimate, config: BlendConfig) -> float:
    """``peak_nsigma`` x the sky RMS of the smoothed flux (nanomaggies per pixel)."""
    return config.peak_nsigma * background.rms * kernel_noise_factor(
        config.kernel_fwhm_px, config.kernel_size_px)


def count_regions_connectivity(
    grey: np.ndarray,
    mask: np.ndarray,
    config: BlendConfig,
    rows: slice,
    cols: slice,
    tol: float = 1e-4,
    max_iter: int = 100,
    flux: np.ndarray | None = None,
    background: BackgroundEstimate | None = None,
    smooth: np.ndarray | None = None,
) -> tuple[int, float]:
    """Connected bright regions of the masked greyscale, re-thresholded inside it.

    The paper's second pass: isodata on the pixels inside the mask only (a higher
    threshold than the first, set by the target's own light), then OpenCV counts the
    connected regions larger than ``min_region_px``. In a large low-surface-brightness
    galaxy that threshold can fall where sky noise still crosses it, and noise specks
    of a few pixels, barely above it, become regions. With ``flux`` and ``background``
    given, a region other than the brightest counts only when its smoothed-flux peak
    rises :func:`min_prominence` above the highest pixel on its outer boundary inside
    the mask: a second nucleus does, a noise speck does not.

    Parameters
    ----------
    grey : numpy.ndarray
        (H, W) greyscale in [0, 1].
    mask : numpy.ndarray
        (H, W) bool, True inside the target's enlarged ellipse.
    config : BlendConfig
        Uses ``min_region_px`` (and the kernel and ``peak_nsigma`` with ``flux``).
    rows, cols : slice
        Bounding box of ``mask``.
    tol, max_iter : float, int
        Isodata tolerance and iteration bound.
    flux : numpy.ndarray, optional
        (H, W) flux image, nanomaggies, for the significance of each region.
    background : BackgroundEstimate, optional
        Sky level and RMS of ``flux`` (required with ``flux``).
    smooth : numpy.ndarray, optional
        :func:`smoothed_flux` of ``flux`` in the same mask, when the caller has it.

    Returns
    -------
    (int, float)
        Counted regions, and the threshold used.
    """
    inside = mask[rows, cols]
    values = grey[rows, cols]
    if not inside.any():
        return 0, float("nan")
    t = isodata_threshold(values[inside], tol=tol, max_iter=max_iter).threshold
    binary = ((values > t) & inside).astype(np.uint8)
    n, labels = cv2.connectedComponents(binary, connectivity=8, ltype=cv2.CV_32S)
    areas = np.bincount(labels.ravel(), minlength=n)  # cheaper than OpenCV's statistics
    big = np.flatnonzero(areas[1:] > config.min_region_px) + 1
    if big.size <= 1 or flux is None or background is None:
        return int(big.size), float(t)
    sm = smoothed_flux(flux, mask, background, config, rows, cols) if smooth is None else smooth
    peaks = np.array([sm[labels == k].max() for k in big])
    cut = min_prominence(background, config)
    ring = np.ones((3, 3), np.uint8)
    count = 1
    order = np.argsort(peaks)[::-1]
    for k, peak in zip(big[order[1:]], peaks[order[1:]], strict=True):
        own = (labels == k).astype(np.uint8)
        edge = (cv2.dilate(own, ring) > 0) & (own == 0) & inside
        base = float(sm[edge].max()) if edge.any() else 0.0
        if peak - base >= cut:
            count += 1
    return count, float(t)
