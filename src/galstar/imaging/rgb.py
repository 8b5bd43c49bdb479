"""Legacy Survey viewer colour images and their greyscale.

The DR9 viewer maps z, r, g to red, green, blue with per-band scales and a shared
arcsinh stretch of the mean intensity (Lupton-style: the stretch acts on the
intensity, so colours are preserved while the dynamic range is compressed).
Everything here works on nanomaggies and returns unitless values in [0, 1]. This is the
package's one colour stretch: the model inputs are this RGB in band order
(:func:`to_band_order`), and anything that shows or imitates them should call it;
:func:`display_rgb` is the same stretch with a per-image brightness, for figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

__all__ = ["VIEWER_SCALES", "GREY_WEIGHTS", "viewer_rgb", "viewer_rgb_and_grey", "display_rgb",
           "to_band_order", "rgb_to_grey"]

#: Viewer scale per band (multiplies nanomaggies) and its RGB plane (0 = red).
VIEWER_SCALES: dict[str, tuple[int, float]] = {"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)}

#: ITU-R BT.601 luma weights for (red, green, blue): the "weighted average" greyscale.
GREY_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)


def viewer_rgb(
    cube: np.ndarray,
    bands: Sequence[str] = ("g", "r", "z"),
    scales: Mapping[str, float] | None = None,
    q: float = 20.0,
    offset: float = 0.03,
) -> np.ndarray:
    """Convert a grz cutout to the Legacy Survey viewer's RGB image.

    Each band is scaled and offset, ``s_b = max(0, scale_b * flux_b + offset)``; the
    mean ``I`` of the scaled bands is stretched as ``asinh(q I) / sqrt(q)`` and every
    band is multiplied by ``stretch(I) / I``; the result is clipped to [0, 1].

    Parameters
    ----------
    cube : numpy.ndarray
        (n_bands, H, W) fluxes in nanomaggies, band order as in ``bands``.
    bands : sequence of str
        Band name of each plane of ``cube``; each must be in ``VIEWER_SCALES``.
    scales : mapping, optional
        Per-band scale overriding ``VIEWER_SCALES`` (1 / nanomaggies).
    q : float
        Arcsinh softening (20 in the viewer).
    offset : float
        Added to every scaled band before the stretch (0.03 in the viewer).

    Returns
    -------
    numpy.ndarray
        (H, W, 3) float32 RGB in [0, 1]; planes red = z, green = r, blue = g.
    """
    scaled, planes = _stretched_bands(cube, bands, scales, q, offset)
    rgb = np.zeros(scaled.shape[1:] + (3,), dtype=np.float32)
    for i, plane in enumerate(planes):
        rgb[:, :, plane] = scaled[i]
    return rgb


def viewer_rgb_and_grey(
    cube: np.ndarray,
    scales: Mapping[str, float] | None = None,
    q: float = 20.0,
    offset: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """``viewer_rgb`` of a grz cube and its ``rgb_to_grey``, the same arrays, together.

    The greyscale is weighted from the stretched bands while they are still separate
    contiguous planes, before the one interleaving copy into the RGB image.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (H, W, 3) float32 RGB (planes red = z, green = r, blue = g) and (H, W) float32
        greyscale.
    """
    scaled, planes = _stretched_bands(cube, ("g", "r", "z"), scales, q, offset)
    red, green, blue = (scaled[planes.index(p)] for p in range(3))
    w = np.asarray(GREY_WEIGHTS, dtype=np.float32)
    w = w / w.sum()
    grey = red * w[0] + green * w[1] + blue * w[2]
    return cv2.merge([red, green, blue]), grey


def _stretched_bands(
    cube: np.ndarray,
    bands: Sequence[str],
    scales: Mapping[str, float] | None,
    q: float,
    offset: float,
) -> tuple[np.ndarray, list[int]]:
    """The viewer stretch of each band (``viewer_rgb``'s values), and each band's plane.

    Returns
    -------
    (numpy.ndarray, list of int)
        (n_bands, H, W) float32 in [0, 1], in the order of ``bands``, and the RGB plane
        of each (0 = red).
    """
    cube = np.asarray(cube, dtype=np.float32)
    if cube.ndim != 3 or cube.shape[0] != len(bands):
        raise ValueError(f"expected a ({len(bands)}, H, W) cube, got shape {cube.shape}")
    factors, planes = [], []
    for band in bands:
        if band not in VIEWER_SCALES:
            raise ValueError(f"no viewer colour for band {band!r}")
        plane, default_scale = VIEWER_SCALES[band]
        factors.append(default_scale if scales is None
                       else float(scales.get(band, default_scale)))
        planes.append(plane)
    scaled = cube * np.array(factors, dtype=np.float32)[:, None, None]
    scaled += np.float32(offset)
    np.maximum(scaled, 0.0, out=scaled)
    # the mean over bands as np.mean takes it (bands added in order, then divided by
    # their count as an intp, cast back to float32), without its reduction machinery
    intensity = scaled[0].copy()
    for plane_values in scaled[1:]:
        intensity += plane_values
    np.divide(intensity, np.intp(len(bands)), out=intensity, casting="unsafe")
    # stretch(I) / I, with I == 0 (a pixel at or below -offset in every band) mapped to 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.arcsinh(np.float32(q) * intensity) / (np.float32(np.sqrt(q)) * intensity)
    gain[~(intensity > 0)] = 0.0
    scaled *= gain
    np.clip(scaled, 0.0, 1.0, out=scaled)
    return scaled, planes


def display_rgb(
    cube: np.ndarray,
    bands: Sequence[str] = ("g", "r", "z"),
    percentile: float = 99.5,
    level: float = 0.6,
    max_gain: float = 20.0,
    q: float = 20.0,
    offset: float = 0.03,
) -> np.ndarray:
    """The viewer's colour image, brightened per cutout so that a faint galaxy is seen.

    For figures only (model inputs use :func:`viewer_rgb` as it is). Every band's viewer
    scale is multiplied by one gain, so colours are kept; the gain puts the
    ``percentile`` of the scaled mean intensity at ``level`` after the arcsinh stretch
    (the galaxy's core just below white), within [1, ``max_gain``]: a bright cutout is
    never dimmed, an empty one not turned into noise.

    Parameters
    ----------
    cube : numpy.ndarray
        (n_bands, H, W) fluxes in nanomaggies, band order as in ``bands``.
    bands : sequence of str
        Band name of each plane of ``cube``.
    percentile : float
        Pixel percentile of the intensity mapped to ``level`` (99.5: the brightest
        ~100 pixels of a 152-pixel cutout, a galaxy's core).
    level : float
        Stretched value, in (0, 1), given to that percentile.
    max_gain : float
        Largest brightening factor (>= 1).
    q, offset : float
        As in :func:`viewer_rgb`.

    Returns
    -------
    numpy.ndarray
        (H, W, 3) float32 RGB in [0, 1]; planes red = z, green = r, blue = g.
    """
    cube = np.asarray(cube, dtype=np.float32)
    if not 0.0 < level < 1.0 or max_gain < 1.0:
        raise ValueError(f"display_rgb: need 0 < level < 1 and max_gain >= 1, got "
                         f"level={level}, max_gain={max_gain}")
    scales = {b: VIEWER_SCALES[b][1] for b in bands if b in VIEWER_SCALES}
    if cube.ndim != 3 or len(scales) != cube.shape[0]:
        return viewer_rgb(cube, bands, q=q, offset=offset)  # its own error message
    intensity = np.mean([scales[b] * cube[i] for i, b in enumerate(bands)], axis=0)
    bright = float(np.nanpercentile(intensity, percentile))
    # asinh(q I) / sqrt(q) = level  <=>  I = sinh(level sqrt(q)) / q
    wanted = np.sinh(level * np.sqrt(q)) / q - offset
    gain = float(np.clip(wanted / bright, 1.0, max_gain)) if bright > 0 else 1.0
    return viewer_rgb(cube, bands, {b: s * gain for b, s in scales.items()}, q, offset)


def to_band_order(rgb: np.ndarray) -> np.ndarray:
    """Viewer planes (red, green, blue) = (z, r, g) reordered to channels g, r, z.

    The model inputs and the band variants (:mod:`galstar.imaging.variants`) use band
    order. Works on (..., 3) arrays and returns a view.
    """
    return rgb[..., ::-1]


def rgb_to_grey(rgb: np.ndarray, weights: Sequence[float] = GREY_WEIGHTS) -> np.ndarray:
    """Weighted average of the colour planes.

    Parameters
    ----------
    rgb : numpy.ndarray
        (H, W, 3) image in [0, 1], planes red, green, blue.
    weights : sequence of float
        Weight of red, green and blue; normalised to sum to one.

    Returns
    -------
    numpy.ndarray
        (H, W) float32 greyscale in [0, 1].
    """
    w = np.asarray(weights, dtype=np.float32)
    w = w / w.sum()
    return (rgb[:, :, 0] * w[0] + rgb[:, :, 1] * w[1] + rgb[:, :, 2] * w[2]).astype(np.float32)
