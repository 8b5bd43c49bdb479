"""Contours of a binary image, ellipse fits, the central target and its mask.

Besides the target's ellipse, the region that contains the cutout centre and whether
it reaches the frame (a target larger than the cutout) are found here.

Conventions: pixel (i, j) has its centre at x = j, y = i (OpenCV); angles are in
degrees, counter-clockwise on the display with y pointing down, i.e. the major axis
direction is (cos angle, sin angle) in (x, y), as ``cv2.fitEllipse`` reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Ellipse",
    "external_contours",
    "fit_contour_ellipses",
    "select_central",
    "region_containing",
    "touches_frame",
    "ellipse_mask",
]


@dataclass(frozen=True)
class Ellipse:
    """A rotated ellipse in pixel coordinates.

    Attributes
    ----------
    x, y : float
        Centre, px (x = column, y = row).
    a, b : float
        Semi-major and semi-minor axes, px (``a >= b``).
    angle : float
        Position angle of the major axis, degrees in [0, 180).
    """

    x: float
    y: float
    a: float
    b: float
    angle: float

    @classmethod
    def from_cv(cls, box: tuple) -> Ellipse:
        """Build from ``cv2.fitEllipse``'s ``((x, y), (width, height), angle)``."""
        (x, y), (w, h), angle = box
        a, b = 0.5 * float(w), 0.5 * float(h)
        if b > a:  # make the first axis the major one
            a, b, angle = b, a, angle + 90.0
        return cls(float(x), float(y), a, b, float(angle) % 180.0)

    def scaled(self, factor: float) -> Ellipse:
        """The same ellipse with both axes multiplied by ``factor``."""
        return Ellipse(self.x, self.y, self.a * factor, self.b * factor, self.angle)

    def contains(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray | bool:
        """True rotated-ellipse containment of points (boundary included)."""
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        dx = np.asarray(x, dtype=np.float64) - self.x
        dy = np.asarray(y, dtype=np.float64) - self.y
        u = (dx * c + dy * s) / self.a
        v = (-dx * s + dy * c) / self.b
        return u * u + v * v <= 1.0

    def bbox(self, shape: tuple[int, int]) -> tuple[slice, slice]:
        """Row and column slices of the ellipse's bounding box clipped to ``shape``."""
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        half_w = math.sqrt((self.a * c) ** 2 + (self.b * s) ** 2)
        half_h = math.sqrt((self.a * s) ** 2 + (self.b * c) ** 2)
        r0 = max(0, int(math.floor(self.y - half_h)))
        r1 = min(shape[0], int(math.ceil(self.y + half_h)) + 1)
        c0 = max(0, int(math.floor(self.x - half_w)))
        c1 = min(shape[1], int(math.ceil(self.x + half_w)) + 1)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def as_dict(self, prefix: str = "ellipse_") -> dict[str, float]:
        """Flat mapping for table columns (``ellipse_x`` ...)."""
        return {
            f"{prefix}x": self.x, f"{prefix}y": self.y, f"{prefix}a": self.a,
            f"{prefix}b": self.b, f"{prefix}angle": self.angle,
        }


def external_contours(binary: np.ndarray) -> list[np.ndarray]:
    """Outer contours of the foreground regions of a binary image.

    The outer boundary of each region, not edges from an edge detector: an edge map
    of a noisy region fragments into short open curves whose ellipse fits wander.

    Parameters
    ----------
    binary : numpy.ndarray
        (H, W) bool or uint8, nonzero = foreground.

    Returns
    -------
    list of numpy.ndarray
        One (n, 1, 2) int32 array of (x, y) boundary pixels per region.
    """
    img = np.ascontiguousarray(binary, dtype=np.uint8)
    contours, _ = cv2.findContours(img, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return list(contours)


def fit_contour_ellipses(
    contours: list[np.ndarray], min_points: int = 5, min_semi_axis_px: float = 3.0
) -> list[tuple[Ellipse, int]]:
    """Fit an ellipse to every contour that is large enough.

    Parameters
    ----------
    contours : list of numpy.ndarray
        Contours from :func:`external_contours`.
    min_points : int
        Fewest boundary points to fit (``cv2.fitEllipse`` needs 5).
    min_semi_axis_px : float
        Both fitted semi-axes must exceed this, px.

    Returns
    -------
    list of (Ellipse, int)
        The fitted ellipse and the index of its contour.
    """
    fits = []
    for i, contour in enumerate(contours):
        if len(contour) < max(5, min_points):
            continue
        ellipse = Ellipse.from_cv(cv2.fitEllipse(contour))
        if not (ellipse.b > min_semi_axis_px and math.isfinite(ellipse.a)):
            continue
        fits.append((ellipse, i))
    return fits


def select_central(
    fits: list[tuple[Ellipse, int]],
    centre: tuple[float, float],
    tolerance_px: float,
    contours: list[np.ndarray] | None = None,
) -> tuple[Ellipse, int] | None:
    """The fitted ellipse whose centre is nearest ``centre`` and that contains it.

    When no ellipse centre lies within ``tolerance_px`` and ``contours`` are given, the
    region whose own outer contour contains ``centre`` (``cv2.pointPolygonTest``, the
    boundary included) is taken instead: a neighbour merged into the target's region
    pulls the fitted ellipse's centre off the target, and such a target must reach the
    blend checks rather than be lost as having no centre source. Of several such
    regions, the one whose ellipse centre is nearest wins.

    Parameters
    ----------
    fits : list of (Ellipse, int)
        Candidates from :func:`fit_contour_ellipses`.
    centre : (float, float)
        (x, y) of the target, px (the cutout centre).
    tolerance_px : float
        Largest allowed distance between the ellipse centre and ``centre``, px.
    contours : list of numpy.ndarray, optional
        The contours the fits index, for the containment fallback (None = no fallback).

    Returns
    -------
    (Ellipse, int) or None
        The target's ellipse and contour index, or None when no candidate qualifies.
    """
    best, best_d = None, math.inf
    cx, cy = centre
    for ellipse, idx in fits:
        d = math.hypot(ellipse.x - cx, ellipse.y - cy)
        if d <= tolerance_px and d < best_d and ellipse.contains(cx, cy):
            best, best_d = (ellipse, idx), d
    if best is not None or contours is None:
        return best
    for ellipse, idx in fits:
        d = math.hypot(ellipse.x - cx, ellipse.y - cy)
        inside = cv2.pointPolygonTest(contours[idx], (float(cx), float(cy)), False) >= 0
        if inside and d < best_d:
            best, best_d = (ellipse, idx), d
    return best


def region_containing(contours: list[np.ndarray], point: tuple[float, float]) -> int | None:
    """Index of the region whose outer contour contains ``point``, or None.

    Outer contours (:func:`external_contours`) are disjoint and a region's holes, with
    whatever lies in them, count as part of it, so at most one contains the point.

    Parameters
    ----------
    contours : list of numpy.ndarray
        Contours from :func:`external_contours`.
    point : (float, float)
        (x, y), px (the boundary counts as inside).

    Returns
    -------
    int or None
        Index into ``contours``.
    """
    xy = (float(point[0]), float(point[1]))
    for i, contour in enumerate(contours):
        if cv2.pointPolygonTest(contour, xy, False) >= 0:
            return i
    return None


def touches_frame(contour: np.ndarray, shape: tuple[int, int]) -> bool:
    """True when a region's outer contour reaches the first or last row or column.

    Such a region is cut by the frame: its contour, ellipse fit and enclosing circle
    describe the truncated part only (a lower bound on its size, and a centre pulled
    towards the image).

    Parameters
    ----------
    contour : numpy.ndarray
        (n, 1, 2) int32 (x, y) boundary pixels.
    shape : (int, int)
        (H, W) of the image the contour was found in.
    """
    xy = contour.reshape(-1, 2)
    h, w = shape
    return bool(np.any((xy[:, 0] <= 0) | (xy[:, 0] >= w - 1)
                       | (xy[:, 1] <= 0) | (xy[:, 1] >= h - 1)))


def ellipse_mask(shape: tuple[int, int], ellipse: Ellipse) -> np.ndarray:
    """Pixels whose centres lie inside the rotated ellipse.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the mask.
    ellipse : Ellipse
        The ellipse, px.

    Returns
    -------
    numpy.ndarray
        (H, W) bool, True inside (boundary included).
    """
    mask = np.zeros(shape, dtype=bool)
    rows, cols = ellipse.bbox(shape)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return mask
    yy = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None]
    xx = np.arange(cols.start, cols.stop, dtype=np.float64)[None, :]
    mask[rows, cols] = ellipse.contains(xx, yy)
    return mask
