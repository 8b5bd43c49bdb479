"""Pass 3 of blend detection: the asymmetry of the target's light under a 180 deg rotation.

A companion on the target's wing, with no saddle to deblend at, still breaks the
target's point symmetry. The smoothed flux inside the mask is rotated
by 180 deg about the target's sub-pixel light centre (refined, as the CAS asymmetry
does, by minimising the residual over a small sub-pixel grid); the positive part of
image - rotated inside the target's footprint, less its expected value from sky noise
alone, over the target's flux, estimates the fraction of the footprint's light that a
companion adds. Above ``asymmetry_max`` = blended.

With the asymmetry pass on, it also confirms the other two (:mod:`galstar.imaging.blend`): a second
component or region found by pass 1 or 2 counts only when the residual exceeds ``asymmetry_max``
too. Those passes are geometric (a second peak inside the enlarged ellipse or the
target's segment), and most of what they find alone are real neighbours outside the
target's own isophote, or faint ones on its edge, that put a few per cent of its light
there at most: not enough to bias its photometry, which is what a blend is here.

**Caveat.** The mock galaxies are point-symmetric Sersic profiles, so any residual
beyond noise comes from a companion. Real galaxies are intrinsically asymmetric
(spiral arms, HII regions, dust lanes, tidal features): on survey data the residual of
an isolated galaxy is larger, ``asymmetry_max`` must be calibrated on real cutouts
with known blends, and a production config (``paper.yaml``) should use a conservative
(higher) value, or disable the pass (``asymmetry_max`` = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from galstar.imaging.background import BackgroundEstimate
from galstar.imaging.blend import BlendConfig, kernel_noise_factor, smoothed_flux

__all__ = ["Asymmetry", "asymmetry_measures"]


#: Widest map ``cv2.remap`` takes (its output must be narrower than 2**15 - 1 px).
_MAX_MAP_WIDTH = 32766


def _remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``cv2.remap`` (bilinear, 0 off the image) for maps of any width, in column blocks
    (each output pixel depends on its own coordinates only)."""
    width = map_x.shape[1]
    if width <= _MAX_MAP_WIDTH:
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.hstack([_remap(image, np.ascontiguousarray(map_x[:, i:i + _MAX_MAP_WIDTH]),
                             np.ascontiguousarray(map_y[:, i:i + _MAX_MAP_WIDTH]))
                      for i in range(0, width, _MAX_MAP_WIDTH)])


class _Rotations:
    """The 180 deg rotations of the smoothed flux and of the footprint, about any centre.

    Only the footprint's pixels enter the sums, so only they are rotated into: every
    one samples the same source coordinates, and gets the same interpolated value, as
    in a rotation of the whole mask box, and they are kept in the box's row-major order
    (so the sums add the same values in the same order). The centres of one search step
    are rotated about in one OpenCV call (``cv2.remap`` with the rotations'
    coordinates, one row of the footprint's pixels per centre).
    """

    def __init__(self, sm: np.ndarray, foot: np.ndarray) -> None:
        self.full = (sm, foot.astype(np.float32))
        gy, gx = np.nonzero(foot)  # row-major, as a boolean index of the box takes them
        self.sm = sm[gy, gx]
        self.gx, self.gy = gx.astype(np.float32), gy.astype(np.float32)

    def residuals(self, centres: list[tuple[float, float]]
                  ) -> list[tuple[float, np.ndarray]]:
        """Positive part of ``sm`` minus its 180 deg rotation about each (x0, y0).

        Summed over the symmetric footprint: the pixels of ``foot`` whose mirror image
        is in ``foot`` too. A point-symmetric target's own isophote is symmetric, so
        this is the target's footprint; a neighbour whose light merely touches it (its
        mirror is sky) falls outside, as does a masked neighbour's hole. Returns, per
        centre, the residual sum and which of the footprint's pixels are symmetric (its
        flux is needed for the best centre only: :meth:`footprint_flux`).
        """
        twice = np.array(centres, dtype=np.float32) * np.float32(2.0)
        map_x = twice[:, 0, None] - self.gx
        map_y = twice[:, 1, None] - self.gy
        rotated, mirror = (_remap(image, map_x, map_y) for image in self.full)
        use = mirror > 0.5  # the mirror is on the footprint too
        excess = self.sm - rotated
        positive = use & (excess > 0)
        # compress: the same pixels in the same order as a boolean index (so the same
        # sums), at less than half its cost on these small rows
        return [(float(excess[i].compress(positive[i]).sum(dtype=np.float64)), use[i])
                for i in range(len(centres))]

    def footprint_flux(self, use: np.ndarray) -> tuple[float, int]:
        """Flux and number of pixels of a symmetric footprint from :meth:`residuals`."""
        values = self.sm.compress(use)
        return float(values.sum(dtype=np.float64)), int(values.size)


@dataclass(frozen=True)
class Asymmetry:
    """What the asymmetry pass measures on one target.

    Attributes
    ----------
    fraction : float
        Companion over target flux from the residual of the 180 deg rotation (>= 0;
        0 when the symmetric footprint is empty).
    unpaired : float
        Flux of the target's detection segment outside its symmetric footprint, over
        the target's symmetric flux (>= 0; 0 when the footprint is empty).
    x, y : float
        Centre of rotation in the cutout's pixels (NaN when nothing was measured).
    """

    fraction: float
    unpaired: float
    x: float
    y: float


def asymmetry_measures(
    flux: np.ndarray,
    mask: np.ndarray,
    background: BackgroundEstimate,
    config: BlendConfig,
    rows: slice,
    cols: slice,
    search_px: int = 3,
    smooth: np.ndarray | None = None,
) -> Asymmetry:
    """Companion light of the target, from the residual of a 180 deg rotation.

    A flux-weighted adaptation of the CAS asymmetry. On the smoothed,
    background-subtracted flux inside the mask (bounding box only), the target's
    footprint is the pixels above ``nsigma`` x the sky RMS whose mirror image is above
    it too (a symmetric target's isophote is symmetric; a neighbour that only touches
    it is left out, as the photometric truth leaves it out). The centre of rotation
    starts at the brightest smoothed pixel within ``search_px`` of the cutout centre
    and is refined to the sub-pixel position that minimises the residual (3 x 3 grids
    of steps from ``centre_step_px`` halved down to a quarter pixel). The positive
    part of image - rotated, summed over the footprint, less its expected value from
    sky noise alone (sigma / sqrt(2 pi) per pixel, sigma the smoothed sky noise times
    sqrt(2) for the difference), is the light that has no symmetric counterpart, R.
    ``fraction`` is R / (F - R), F the footprint's flux: the fractional bias a
    companion adds to the target's isophotal flux.

    The rotation cannot see light that is symmetric about the target, such as the
    smooth wing of a much brighter neighbour merged with it at the detection
    isophote. ``unpaired`` measures that neighbour: the flux of the target's
    detection segment (the connected pixels above the threshold that hold the centre)
    outside the symmetric footprint, over the target's symmetric flux F - R.

    The mock's galaxies are point-symmetric; real galaxies are not (spiral arms, HII
    regions), so on survey data isolated galaxies have a larger residual and the
    thresholds applied to these values must be calibrated there.

    Parameters
    ----------
    flux : numpy.ndarray
        (H, W) flux image, nanomaggies.
    mask : numpy.ndarray
        (H, W) bool, True on the target's pixels (enlarged ellipse less neighbours).
    background : BackgroundEstimate
        Sky level and RMS of ``flux``.
    config : BlendConfig
        Uses ``nsigma``, ``centre_step_px`` and the smoothing kernel.
    rows, cols : slice
        Bounding box of ``mask``.
    search_px : int
        Half-side of the window around the cutout centre where the peak is sought, px.
    smooth : numpy.ndarray, optional
        :func:`smoothed_flux` of the same arguments, when the caller has it already.

    Returns
    -------
    Asymmetry
        The residual fraction, the unpaired light and the centre of rotation.
    """
    nothing = Asymmetry(0.0, 0.0, math.nan, math.nan)
    inside = mask[rows, cols]
    sm = smoothed_flux(flux, mask, background, config, rows, cols) if smooth is None else smooth
    above = inside & (sm > config.nsigma * background.rms)
    if not above.any():
        return nothing
    cy = (mask.shape[0] - 1) // 2 - rows.start
    cx = (mask.shape[1] - 1) // 2 - cols.start
    r0, c0 = max(0, cy - search_px), max(0, cx - search_px)
    window = sm[r0:cy + search_px + 1, c0:cx + search_px + 1]
    if window.size == 0:
        return nothing
    py, px = np.unravel_index(int(np.argmax(window)), window.shape)
    best = (float(c0 + px), float(r0 + py))
    rotations = _Rotations(sm, above)
    best_r, best_use = rotations.residuals([best])[0]
    step = float(config.centre_step_px)
    while step >= 0.25:
        x0, y0 = best
        centres = [(x0 + dx, y0 + dy) for dy in (-step, 0.0, step)
                   for dx in (-step, 0.0, step) if dx != 0.0 or dy != 0.0]
        for centre, (r, use) in zip(centres, rotations.residuals(centres), strict=True):
            if r < best_r:
                best, best_r, best_use = centre, r, use
        step /= 2.0
    total, n_pix = rotations.footprint_flux(best_use)
    if n_pix == 0:  # nothing symmetric about any centre tried: noise, not a target
        return nothing
    sigma = background.rms * kernel_noise_factor(config.kernel_fwhm_px,
                                                 config.kernel_size_px)
    noise = n_pix * sigma * math.sqrt(2.0) / math.sqrt(2.0 * math.pi)
    residual = max(best_r - noise, 0.0)
    symmetric = total - best_r  # sum of min(image, rotated) over the footprint, > 0
    target = total - residual
    fraction = residual / target if target > 0 else 0.0
    unpaired = 0.0
    if config.unpaired_max > 0:
        unpaired = _segment_flux(sm, above, best) / symmetric - total / symmetric
    return Asymmetry(fraction, max(unpaired, 0.0), best[0] + cols.start, best[1] + rows.start)


def _segment_flux(sm: np.ndarray, above: np.ndarray, centre: tuple[float, float]) -> float:
    """Flux of the connected region of ``above`` that holds ``centre`` (0 if none)."""
    _, labels = cv2.connectedComponents(above.astype(np.uint8), connectivity=8)
    x, y = int(round(centre[0])), int(round(centre[1]))
    if not (0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]) or labels[y, x] == 0:
        return 0.0
    return float(sm[labels == labels[y, x]].sum(dtype=np.float64))
