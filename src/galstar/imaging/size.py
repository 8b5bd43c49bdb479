"""Target size (minimum enclosing circle) and the central crop."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["enclosing_radius_px", "centre_crop"]


def enclosing_radius_px(contour: np.ndarray) -> float:
    """Radius of the minimum enclosing circle of a region's outer contour.

    Parameters
    ----------
    contour : numpy.ndarray
        (n, 1, 2) int32 boundary pixels of the target's thresholded region.

    Returns
    -------
    float
        Radius, px, measured between pixel centres.
    """
    _, radius = cv2.minEnclosingCircle(contour)
    return float(radius)


def centre_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Central ``crop`` x ``crop`` pixels of an (H, W, ...) image.

    For a 152 px cutout and ``crop = 64`` this is rows and columns 44:108, which keeps
    the cutout centre (pixel 76) at pixel 32 of the crop.

    Raises
    ------
    ValueError
        If ``crop`` exceeds the image or is not positive.
    """
    h, w = image.shape[:2]
    if not 0 < crop <= min(h, w):
        raise ValueError(f"crop {crop} does not fit an image of {h} x {w}")
    r0, c0 = (h - crop + 1) // 2, (w - crop + 1) // 2
    return image[r0 : r0 + crop, c0 : c0 + crop]
