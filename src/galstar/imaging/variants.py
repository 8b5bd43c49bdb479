"""Band and resolution variants of the grz-64 model inputs (the paper's ablations).

Input tensors are (n, H, W, 3) float32 with channels g, r, z. A single band is
copied into three channels; two bands fill the first two channels, in g, r, z order,
and their mean the third (as in the paper); resolutions are reached by bilinear
resampling of the crop. These are the package's one definition of the variants: the
training tensors come from :func:`make_variant`, and tests or benchmarks that build
variant tensors should call it rather than re-derive the channel layout.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["BAND_CHANNELS", "VARIANT_BANDS", "VARIANT_RESOLUTIONS", "select_bands", "resample",
           "make_variant"]

#: Channel of each band in the grz tensor.
BAND_CHANNELS: dict[str, int] = {"g": 0, "r": 1, "z": 2}
VARIANT_BANDS: tuple[str, ...] = ("g", "r", "z", "gr", "gz", "rz", "grz")
VARIANT_RESOLUTIONS: tuple[int, ...] = (64, 32, 16, 8)


def select_bands(images: np.ndarray, bands: str) -> np.ndarray:
    """Three-channel tensor built from a subset of the g, r, z channels.

    Parameters
    ----------
    images : numpy.ndarray
        (n, H, W, 3) float32, channels g, r, z.
    bands : str
        One of ``VARIANT_BANDS``.

    Returns
    -------
    numpy.ndarray
        (n, H, W, 3) float32: ``g`` -> (g, g, g); ``gr`` -> (g, r, (g + r) / 2);
        ``grz`` -> unchanged.
    """
    if bands not in VARIANT_BANDS:
        raise ValueError(f"bands must be one of {VARIANT_BANDS}, got {bands!r}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, H, W, 3) images, got shape {images.shape}")
    idx = [BAND_CHANNELS[b] for b in bands]
    if len(idx) == 3:
        return np.asarray(images, dtype=np.float32).copy()
    if len(idx) == 1:
        one = images[..., idx[0]]
        return np.stack([one, one, one], axis=-1).astype(np.float32)
    a, b = images[..., idx[0]], images[..., idx[1]]
    return np.stack([a, b, 0.5 * (a + b)], axis=-1).astype(np.float32)


def resample(images: np.ndarray, resolution: int) -> np.ndarray:
    """Bilinear resampling of every image to ``resolution`` x ``resolution``.

    Parameters
    ----------
    images : numpy.ndarray
        (n, H, W, C) float32.
    resolution : int
        Output side, px.

    Returns
    -------
    numpy.ndarray
        (n, resolution, resolution, C) float32 (a copy when the size is unchanged).
    """
    if resolution <= 0:
        raise ValueError(f"resolution must be positive, got {resolution}")
    n, h, w, c = images.shape
    if (h, w) == (resolution, resolution):
        return np.asarray(images, dtype=np.float32).copy()
    out = np.empty((n, resolution, resolution, c), dtype=np.float32)
    for i in range(n):
        out[i] = cv2.resize(
            np.ascontiguousarray(images[i], dtype=np.float32), (resolution, resolution),
            interpolation=cv2.INTER_LINEAR,
        ).reshape(resolution, resolution, c)
    return out


def make_variant(images: np.ndarray, bands: str, resolution: int) -> np.ndarray:
    """Band subset, then resolution, of a grz tensor (see the module docstring)."""
    return resample(select_bands(images, bands), int(resolution))
