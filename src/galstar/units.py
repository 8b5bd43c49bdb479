"""Unit conversions shared by every stage: AB magnitudes and nanomaggies, sky vectors.

Dependency-free apart from numpy, so that any package (archives, mock, catalog,
features) may use it without pulling in another stage.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AB_ZEROPOINT_NMGY", "mag_to_nmgy", "nmgy_to_mag", "unit_vectors"]

#: AB magnitude of a source of 1 nanomaggy: ``mag = 22.5 - 2.5 log10(flux / nmgy)``.
AB_ZEROPOINT_NMGY = 22.5


def mag_to_nmgy(mag: np.ndarray | float) -> np.ndarray:
    """AB magnitude to flux in nanomaggies."""
    return 10.0 ** ((AB_ZEROPOINT_NMGY - np.asarray(mag, dtype=float)) / 2.5)


def nmgy_to_mag(flux: np.ndarray | float) -> np.ndarray:
    """Flux in nanomaggies to AB magnitude (NaN for non-positive or non-finite flux)."""
    flux = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, AB_ZEROPOINT_NMGY - 2.5 * np.log10(flux), np.nan)


def unit_vectors(ra_deg: np.ndarray | float, dec_deg: np.ndarray | float) -> np.ndarray:
    """Cartesian unit vectors, shape (n, 3), of ICRS positions given in degrees."""
    ra = np.deg2rad(np.atleast_1d(np.asarray(ra_deg, dtype=np.float64)))
    dec = np.deg2rad(np.atleast_1d(np.asarray(dec_deg, dtype=np.float64)))
    cos_dec = np.cos(dec)
    return np.column_stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)])
