"""Preprocess one cutout, or one shard of cutouts: mask, blend and size cuts, crop.

The model input is the Legacy Survey viewer RGB image (arcsinh-stretched, in [0, 1])
multiplied by the target's enlarged-ellipse mask (0 outside) and cropped to the
centre, channels ordered g, r, z (the viewer's blue, green, red): the scale the
GalEffNet paper feeds its network, bounded and roughly uniform in contrast, so no
further normalisation is needed before training.

A target cut by the frame is ``too_large`` (no separate reason: the cut-flow counts
it with the other large galaxies). When the thresholded region holding the cutout
centre (the target's, or failing a target, the one whose contour contains the centre)
reaches the frame edge and a source is detected at the centre, the galaxy is larger
than the cutout; its truncated isophote's ellipse is pulled off the centre, so it would
otherwise read as ``no_center_source``. This check runs right after the centre search,
whatever ``max_radius_px`` is; of the blend passes only the catalogue pass, which does
not judge the truncated region's shape, still runs (``blended_catalog``). ``radius_px``
is then a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from galstar.imaging.asymmetry import asymmetry_measures
from galstar.imaging.background import estimate_background
from galstar.imaging.blend import (
    BlendConfig,
    blend_kernel,
    count_regions_connectivity,
    count_sources_photutils,
    min_prominence,
    smooth,
    smoothed_flux,
)
from galstar.imaging.catalog_pass import catalog_pass
from galstar.imaging.ellipse import (
    Ellipse,
    ellipse_mask,
    external_contours,
    fit_contour_ellipses,
    region_containing,
    select_central,
    touches_frame,
)
from galstar.imaging.neighbour_model import Neighbours
from galstar.imaging.rgb import to_band_order, viewer_rgb_and_grey
from galstar.imaging.size import centre_crop, enclosing_radius_px
from galstar.imaging.threshold import isodata_threshold

__all__ = [
    "REJECT_REASONS",
    "BAD_PIXEL_CAUSES",
    "CUBE_BANDS",
    "bad_pixel_detail",
    "PreprocessConfig",
    "PreprocessResult",
    "detection_image",
    "preprocess_cutout",
]

#: Reasons ``preprocess_cutout`` can give, in the order the checks run (``too_large``
#: also right after the centre search, for a target cut by the frame).
REJECT_REASONS: tuple[str, ...] = (
    "bad_pixels", "no_center_source", "blended_photutils", "blended_connectivity",
    "blended_asymmetry", "blended_catalog", "too_large",
)
#: Causes of ``bad_pixels`` (``reject_detail`` is ``<cause>:<where>``), in check order.
BAD_PIXEL_CAUSES: tuple[str, ...] = (
    "bad_shape", "not_numeric", "nonfinite_pixels", "zero_band", "smaller_than_crop",
)
#: Band order of the cutout cube (``viewer_rgb``'s default), for naming bands in details.
CUBE_BANDS = "grz"


def _check_keys(values: Mapping[str, Any], cls: type, section: str) -> None:
    """Raise ValueError naming the keys of ``values`` that are no field of ``cls``."""
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {section} keys: {unknown}")


@dataclass(frozen=True)
class PreprocessConfig:
    """Every number of the preprocessing (paper defaults).

    Attributes
    ----------
    ellipse_scale : float
        Factor applied to both semi-axes of the target ellipse before masking.
    center_tolerance_px : float
        Largest distance of the target ellipse's centre from the cutout centre, px.
    max_radius_px : float
        Keep targets whose enclosing-circle radius is below this, px (23 px = 6").
    crop : int
        Side of the central crop, px.
    min_semi_axis_px : float
        Both semi-axes of a fitted ellipse must exceed this, px.
    pixscale : float
        Cutout pixel scale, arcsec / px (for ``radius_arcsec``).
    rgb_q, rgb_offset : float
        Arcsinh softening and offset of the viewer RGB conversion.
    rgb_scales : dict
        Viewer scale per band, 1 / nanomaggies.
    smooth_fwhm_px : float
        FWHM of the Gaussian that smooths the greyscale before thresholding, px (0 =
        none). Sky noise otherwise crosses the threshold pixel by pixel, and the
        target's region frays into the noise (ragged contours, inflated radii).
    threshold_tol : float
        Isodata convergence tolerance (greyscale units).
    threshold_max_iter : int
        Isodata iteration bound.
    blend : BlendConfig
        Blend-pass settings.
    """

    ellipse_scale: float = 1.5
    center_tolerance_px: float = 5.0
    max_radius_px: float = 23.0
    crop: int = 64
    min_semi_axis_px: float = 3.0
    pixscale: float = 0.262
    rgb_q: float = 20.0
    rgb_offset: float = 0.03
    rgb_scales: dict = field(default_factory=lambda: {"g": 6.0, "r": 3.4, "z": 2.2})
    smooth_fwhm_px: float = 3.0
    threshold_tol: float = 1e-4
    threshold_max_iter: int = 100
    blend: BlendConfig = field(default_factory=BlendConfig)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None, **overrides: Any
                     ) -> PreprocessConfig:
        """Build from the ``galaxies.preprocess`` config section (nested ``blend``).

        Raises
        ------
        ValueError
            On a key this stage does not know (a typo must not pass silently).
        """
        values = dict(mapping or {})
        values.update(overrides)
        _check_keys(values, cls, "galaxies.preprocess")
        blend = values.pop("blend", None)
        if isinstance(blend, Mapping):
            _check_keys(blend, BlendConfig, "galaxies.preprocess.blend")
            values["blend"] = BlendConfig(**blend)
        elif blend is not None:
            values["blend"] = blend
        if "rgb_scales" in values:
            values["rgb_scales"] = dict(values["rgb_scales"])
        return cls(**values)

    def with_(self, **changes: Any) -> PreprocessConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass
class PreprocessResult:
    """What :func:`preprocess_cutout` found for one cutout.

    Attributes
    ----------
    image : numpy.ndarray or None
        (crop, crop, 3) float32 masked viewer RGB in [0, 1], channels g, r, z; None
        when rejected.
    mask : numpy.ndarray
        (H, W) bool, True = kept pixel: inside the enlarged ellipse and not on a
        separate neighbour detected there; all False when no target was found.
    ellipse : Ellipse or None
        Target ellipse after enlargement (centre, semi-axes in px, angle in deg).
    radius_px : float
        Minimum enclosing circle radius of the target's thresholded region, px (NaN
        when no target).
    blended : bool
        A blend pass fired (with the asymmetry pass on, only when it confirms).
    reject_reason : str or None
        None when kept, else one of ``REJECT_REASONS``.
    reject_detail : str
        The cause behind ``bad_pixels`` (:func:`bad_pixel_detail`); "" otherwise.
    threshold : float
        Isodata threshold of the greyscale (NaN for bad pixels).
    n_sources : int
        Sources found by the photutils pass (-1 when not run).
    n_regions : int
        Regions found by the connectivity pass (-1 when not run).
    asymmetry : float
        Residual fraction of the asymmetry pass (companion over target flux, see
        :func:`galstar.imaging.asymmetry.asymmetry_measures`; NaN when not run).
    unpaired : float
        Light of the target's detection segment without a symmetric counterpart, over
        the target's symmetric flux (asymmetry pass; NaN when not run).
    catalog_contamination : float
        Catalogue neighbours' model flux on the target's isophote over the target's
        flux there (catalogue pass; NaN when not run).
    steps : dict or None
        Intermediate images (rgb, grey, binary, contours, target contour index) when
        requested, for figures.
    """

    image: np.ndarray | None
    mask: np.ndarray
    ellipse: Ellipse | None
    radius_px: float
    blended: bool
    reject_reason: str | None
    reject_detail: str = ""
    threshold: float = math.nan
    n_sources: int = -1
    n_regions: int = -1
    asymmetry: float = math.nan
    unpaired: float = math.nan
    catalog_contamination: float = math.nan
    steps: dict | None = None

    @property
    def kept(self) -> bool:
        """True when the cutout passed every check."""
        return self.reject_reason is None


def detection_image(cube: np.ndarray, config: PreprocessConfig
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The viewer RGB of a grz cube with the config's stretch, and its smoothed greyscale.

    The greyscale is what the target is thresholded and found on; the RGB, in band
    order (:func:`galstar.imaging.rgb.to_band_order`), is what the model sees.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (H, W, 3) float32 viewer RGB (red = z) and (H, W) float32 greyscale.
    """
    rgb, grey = viewer_rgb_and_grey(cube, scales=config.rgb_scales, q=config.rgb_q,
                                    offset=config.rgb_offset)
    return rgb, smooth(grey, config.smooth_fwhm_px)


def bad_pixel_detail(cube: Any, crop: int) -> str | None:
    """Why ``cube`` cannot be processed (the ``bad_pixels`` cause), or None.

    Parameters
    ----------
    cube : array_like
        The cutout, expected (3, N, N) numeric in :data:`CUBE_BANDS` order.
    crop : int
        The central crop [px]; a smaller cutout cannot be cropped.

    Returns
    -------
    str or None
        The first failing check, as ``<cause>:<where>`` (causes in
        :data:`BAD_PIXEL_CAUSES`): ``bad_shape:<d0>x<d1>...`` (not (3, N, N)),
        ``not_numeric:<dtype>``, ``nonfinite_pixels:<bands>`` (every band holding a NaN
        or inf, e.g. ``nonfinite_pixels:gz``), ``zero_band:<bands>`` (bands that are 0
        everywhere), ``smaller_than_crop:<h>x<w><<crop>`` (e.g.
        ``smaller_than_crop:40x40<64``); None when the cube is usable.
    """
    arr = np.asarray(cube)
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.shape[1] != arr.shape[2]:
        return "bad_shape:" + ("x".join(str(d) for d in arr.shape) or "scalar")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return f"not_numeric:{arr.dtype}"
    per_band = arr.reshape(3, -1)
    nonfinite = ~np.isfinite(per_band).all(axis=1)
    if nonfinite.any():
        return "nonfinite_pixels:" + "".join(np.array(list(CUBE_BANDS))[nonfinite])
    zero = (per_band == 0).all(axis=1)
    if zero.any():
        return "zero_band:" + "".join(np.array(list(CUBE_BANDS))[zero])
    if arr.shape[1] < crop:
        return f"smaller_than_crop:{arr.shape[1]}x{arr.shape[2]}<{int(crop)}"
    return None


def _centre_detected(flux: np.ndarray, background: Any, blend: BlendConfig) -> bool:
    """Whether a real source, not a noise bump, lies at the cutout centre.

    The kernel-smoothed, sky-subtracted flux at the centre pixel must reach
    :func:`galstar.imaging.blend.min_prominence` (``peak_nsigma`` x the smoothed sky
    noise). On a frame of sky alone the isodata threshold splits the noise, and a
    region of noise percolates to the edge; it is no large galaxy.
    """
    kernel = blend_kernel(blend.kernel_fwhm_px, blend.kernel_size_px)
    half = kernel.shape[0] // 2
    c = (flux.shape[0] - 1) // 2
    window = flux[c - half:c + half + 1, c - half:c + half + 1] - background.level
    return float(np.sum(kernel * window)) >= min_prominence(background, blend)


def _cut_by_frame(flux: np.ndarray, background: Any, contour: np.ndarray, index: int,
                  fits: list[tuple[Ellipse, int]], config: PreprocessConfig,
                  neighbours: Neighbours | Any | None, threshold: float,
                  steps: dict | None) -> PreprocessResult:
    """``too_large`` for a centre region that reaches the frame (see the module notes).

    The image blend passes are not run: photutils, connectivity and asymmetry judge
    the region's shape, and a frame-cut region is truncated and off-centre, so they
    would report the cut as a blend. The catalogue pass models the neighbours' light
    from the sweeps and does not depend on that shape: it still runs (on the region's
    own ellipse fit, when it has one), so a target merged with a bright neighbour
    that reaches the frame stays ``blended_catalog``. The fitted ellipse is reported
    (enlarged, with its mask) so the table shows the truncated isophote.
    """
    fitted = next((e for e, i in fits if i == index), None)
    ellipse = None if fitted is None else fitted.scaled(config.ellipse_scale)
    mask = np.zeros(flux.shape, bool) if ellipse is None else ellipse_mask(flux.shape, ellipse)
    contamination = (math.nan if ellipse is None
                     else catalog_pass(flux, background, neighbours, ellipse, config))
    blended = contamination > config.blend.catalog_contamination_max
    if steps is not None:
        steps["target_index"] = index
        steps["mask"] = mask
    return PreprocessResult(None, mask, ellipse, enclosing_radius_px(contour), blended,
                            "blended_catalog" if blended else "too_large",
                            threshold=threshold, catalog_contamination=contamination,
                            steps=steps)


def preprocess_cutout(
    cube: np.ndarray,
    config: PreprocessConfig | Mapping[str, Any] | None = None,
    keep_steps: bool = False,
    neighbours: Neighbours | Any | None = None,
) -> PreprocessResult:
    """Mask the central galaxy of a grz cutout, reject blends and large targets, crop.

    Steps: viewer RGB and greyscale; isodata threshold iterated to convergence; outer
    contours of the binary image and their ellipse fits; the target is the ellipse
    nearest the centre (within ``center_tolerance_px``) that contains the centre (with
    the asymmetry pass on, failing that, the region whose contour contains it); a
    target region that reaches the frame is ``too_large`` at once (module notes);
    enlarge it by ``ellipse_scale`` and mask outside; photutils, connectivity and
    asymmetry blend passes inside the mask, and the catalogue pass when ``neighbours``
    are given (the DR9 neighbours' model light on the target's isophote); enclosing-
    circle size cut; central crop.

    Parameters
    ----------
    cube : numpy.ndarray
        (3, N, N) grz fluxes, nanomaggies (N = 152 for the published cutouts).
    config : PreprocessConfig or mapping, optional
        Settings; a mapping is read with :meth:`PreprocessConfig.from_mapping`.
    keep_steps : bool
        Keep intermediate images in ``result.steps`` (for figures).
    neighbours : Neighbours or pandas.DataFrame, optional
        The target's DR9 catalogue neighbours (a table with the columns of
        :data:`galstar.imaging.neighbour_model.NEIGHBOUR_COLUMNS`, or their pixel-frame
        form). Without them the catalogue pass is skipped; an empty table means no
        neighbour (contamination 0).

    Returns
    -------
    PreprocessResult
        Never raises on bad data: unusable cubes come back with ``bad_pixels``.
    """
    if not isinstance(config, PreprocessConfig):
        config = PreprocessConfig.from_mapping(config)
    problem = bad_pixel_detail(cube, config.crop)
    if problem is not None:
        shape = np.asarray(cube).shape[1:] if np.ndim(cube) == 3 else (0, 0)
        result = PreprocessResult(None, np.zeros(shape[:2], bool), None, math.nan, False,
                                  "bad_pixels", reject_detail=problem)
        if keep_steps:
            result.steps = {"problem": problem}
        return result
    cube = np.asarray(cube, dtype=np.float32)
    n = cube.shape[1]
    centre = ((n - 1) / 2.0, (n - 1) / 2.0)

    rgb, grey = detection_image(cube, config)
    threshold = isodata_threshold(
        grey, tol=config.threshold_tol, max_iter=config.threshold_max_iter
    ).threshold
    binary = grey > threshold
    contours = external_contours(binary)
    fits = fit_contour_ellipses(contours, min_semi_axis_px=config.min_semi_axis_px)
    # A region that contains the centre but whose ellipse a merged neighbour pulls off it
    # is taken only when the asymmetry pass is on to judge it (else: no centre source).
    fallback = contours if config.blend.asymmetry_max > 0 else None
    target = select_central(fits, centre, config.center_tolerance_px, fallback)
    steps = None
    if keep_steps:
        steps = {"rgb": rgb, "grey": grey, "binary": binary, "contours": contours,
                 "fits": fits, "target_index": None if target is None else target[1]}
    flux = cube.sum(axis=0)
    background = None
    region = target[1] if target is not None else region_containing(contours, centre)
    if region is not None and touches_frame(contours[region], grey.shape):
        background = estimate_background(flux, binary)
        if _centre_detected(flux, background, config.blend):
            return _cut_by_frame(flux, background, contours[region], region, fits, config,
                                 neighbours, threshold, steps)
    if target is None:
        return PreprocessResult(None, np.zeros(grey.shape, bool), None, math.nan, False,
                                "no_center_source", threshold=threshold, steps=steps)

    fitted, contour_index = target
    ellipse = fitted.scaled(config.ellipse_scale)
    mask = ellipse_mask(grey.shape, ellipse)
    rows, cols = ellipse.bbox(grey.shape)
    radius = enclosing_radius_px(contours[contour_index])

    if background is None:
        background = estimate_background(flux, binary)
    first = smoothed_flux(flux, mask, background, config.blend, rows, cols)
    n_sources, neighbour_pixels = count_sources_photutils(
        flux, mask, background, config.blend, rows, cols, smooth=first
    )
    # The connectivity and asymmetry passes see the same masked, smoothed flux (the
    # connectivity pass alone needs it only for a second region: it smooths then);
    # without neighbour pixels to mask it is the photutils pass's.
    sm = None
    if neighbour_pixels.any():
        mask &= ~neighbour_pixels
        if config.blend.asymmetry_max > 0:
            sm = smoothed_flux(flux, mask, background, config.blend, rows, cols)
    else:
        sm = first
    n_regions, _ = count_regions_connectivity(
        grey, mask, config.blend, rows, cols,
        tol=config.threshold_tol, max_iter=config.threshold_max_iter,
        flux=flux, background=background, smooth=sm,
    )
    asymmetry = unpaired = math.nan
    asymmetric = False
    if config.blend.asymmetry_max > 0:
        measured = asymmetry_measures(flux, mask, background, config.blend, rows, cols,
                                      smooth=sm)
        asymmetry, unpaired = measured.fraction, measured.unpaired
        asymmetric = asymmetry > config.blend.asymmetry_max or (
            0 < config.blend.unpaired_max < unpaired)
    # With the asymmetry pass on, a neighbour found by the other two is a blend only
    # when it breaks the target's symmetry by enough flux (see galstar.imaging.asymmetry).
    confirmed = asymmetric or config.blend.asymmetry_max <= 0
    contamination = catalog_pass(flux, background, neighbours, ellipse, config)
    # With the catalogue pass run, the image passes' detections must also be seen by it
    # (catalog_confirm_min): most of what they find alone is near the 10 % truth limit.
    if not math.isnan(contamination):
        confirmed = confirmed and contamination >= config.blend.catalog_confirm_min
        asymmetric = asymmetric and contamination >= config.blend.catalog_confirm_min
    reason = None
    if n_sources > 1 and confirmed:
        reason = "blended_photutils"
    elif n_regions > 1 and confirmed:
        reason = "blended_connectivity"
    elif asymmetric:
        reason = "blended_asymmetry"
    elif contamination > config.blend.catalog_contamination_max:
        reason = "blended_catalog"
    elif not radius < config.max_radius_px:
        reason = "too_large"
    blended = reason is not None and reason.startswith("blended")

    image = None
    if reason is None:
        # cropped before masking: the same products, on the crop's pixels only
        masked = (centre_crop(to_band_order(rgb), config.crop)
                  * centre_crop(mask, config.crop)[:, :, None])
        image = np.ascontiguousarray(masked, dtype=np.float32)
    if steps is not None:
        steps["mask"] = mask
    return PreprocessResult(image, mask, ellipse, radius, blended, reason,
                            threshold=threshold, n_sources=n_sources, n_regions=n_regions,
                            asymmetry=asymmetry, unpaired=unpaired,
                            catalog_contamination=contamination, steps=steps)
