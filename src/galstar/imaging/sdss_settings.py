"""How ugriz cutouts become model inputs: the settings of config ``galaxies.sdss.images``.

Apart from :mod:`galstar.imaging.sdss` (which needs OpenCV and photutils) so that the
workflow's config checks build them at parse time without those imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galstar.options import check_option_names

__all__ = ["BANDS", "SDSS_SOFTENING_NMGY", "SdssImageSettings"]

BANDS = "ugriz"
#: SDSS asinh-magnitude softening b per band [nanomaggies] (u, g, r, i, z).
SDSS_SOFTENING_NMGY = (0.14, 0.09, 0.12, 0.18, 0.74)


@dataclass(frozen=True)
class SdssImageSettings:
    """How ugriz cutouts become model inputs (config ``galaxies.sdss.images``).

    Attributes
    ----------
    size : int
        Cutout side [pixels] (64); a cutout of another size is ``bad_image``.
    pixscale : float
        Pixel scale [arcsec/pixel] requested from the archive (0.396, SDSS's native).
    softening_nmgy : tuple of 5 float
        asinh softening per band [nmgy].
    mask : bool
        Zero the pixels outside the target's enlarged isophote ellipse.
    mask_scale : float
        Ellipse enlargement factor when masking.
    smooth_fwhm_px : float
        Smoothing of the detection image before thresholding [pixels].
    center_tolerance_px : float
        The target's ellipse centre must lie this close to the cutout centre [pixels].
    min_semi_axis_px : float
        Smallest semi-axis of a fitted ellipse [pixels].
    detect_nsigma : float
        The smoothed detection image at the centre must exceed the median of the
        cutout's 6-pixel border by this many robust (MAD) standard deviations of it, or
        there is no central source.
    """

    size: int = 64
    pixscale: float = 0.396
    softening_nmgy: tuple[float, ...] = SDSS_SOFTENING_NMGY
    mask: bool = False
    mask_scale: float = 1.5
    smooth_fwhm_px: float = 2.0
    center_tolerance_px: float = 5.0
    min_semi_axis_px: float = 2.0
    detect_nsigma: float = 5.0
    _soft: np.ndarray = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        soft = np.asarray(self.softening_nmgy, dtype=np.float32)
        if soft.shape != (len(BANDS),) or not np.all(soft > 0):
            raise ValueError("galaxies.sdss.images.softening_nmgy needs 5 positive values "
                             f"(u, g, r, i, z), got {self.softening_nmgy}")
        if int(self.size) < 8:
            raise ValueError(f"galaxies.sdss.images.size must be >= 8, got {self.size}")
        object.__setattr__(self, "_soft", soft)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], key: str = "galaxies.sdss.images"
                     ) -> SdssImageSettings:
        """Build from a config mapping (each key optional); an unknown key raises
        ``ValueError`` naming it."""
        check_option_names(config, cls, key)
        kwargs = dict(config)
        if "softening_nmgy" in kwargs:
            kwargs["softening_nmgy"] = tuple(float(v) for v in kwargs["softening_nmgy"])
        return cls(**kwargs)
