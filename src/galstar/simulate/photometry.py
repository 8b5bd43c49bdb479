"""Photometric conventions of the simulated universe: magnitudes, depths, Sersic light.

All fluxes are in nanomaggies (AB: ``mag = 22.5 - 2.5 log10(flux)``, converted by
:mod:`galstar.units`, re-exported here), the unit of Legacy Survey catalogues and
cutouts. Angles are in arcsec unless a name says otherwise.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gamma, gammainc, gammaincinv

from galstar.units import mag_to_nmgy, nmgy_to_mag

__all__ = ["BANDS", "EXTINCTION_R", "MSUN_R_AB", "FWHM_PER_SIGMA", "mag_to_nmgy",
           "nmgy_to_mag", "pixel_sigma_from_depth", "point_flux_sigma_from_depth", "sersic_b",
           "sersic_enclosed_fraction", "sersic_isophote_radius", "moffat_alpha",
           "moffat_isophote_radius"]

#: Band order of every flux array (the Legacy Survey cutout order).
BANDS: tuple[str, ...] = ("g", "r", "z")

#: Galactic extinction A_band / E(B-V) for DECam grz (Schlafly & Finkbeiner 2011),
#: the coefficients DR9 uses for MW_TRANSMISSION.
EXTINCTION_R: dict[str, float] = {"g": 3.214, "r": 2.165, "z": 1.211}

#: Absolute AB magnitude of the Sun in r (Willmer 2018).
MSUN_R_AB = 4.65

#: Gaussian FWHM = 2 sqrt(2 ln 2) sigma.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def pixel_sigma_from_depth(
    depth_mag: float, psf_fwhm_arcsec: float, pixscale_arcsec: float
) -> float:
    """Per-pixel Gaussian sky noise [nmgy/pixel] implied by a 5-sigma point-source depth.

    A point source measured with the optimal (PSF-weighted) estimator has a flux error
    ``sigma_pix * sqrt(NEA)``, with the noise-equivalent area of a Gaussian PSF
    ``NEA = 4 pi sigma_psf^2`` (in pixels). The 5-sigma depth fixes that flux error to
    ``flux(depth) / 5``.

    Parameters
    ----------
    depth_mag : float
        5-sigma point-source depth, AB mag (DR9 typical: g 24.0, r 23.4, z 22.5).
    psf_fwhm_arcsec : float
        Reference PSF FWHM the depth refers to [arcsec].
    pixscale_arcsec : float
        Pixel scale [arcsec/pixel].
    """
    sigma_psf_px = psf_fwhm_arcsec / FWHM_PER_SIGMA / pixscale_arcsec
    nea_px = 4.0 * np.pi * sigma_psf_px**2
    return float(mag_to_nmgy(depth_mag) / 5.0 / np.sqrt(nea_px))


def point_flux_sigma_from_depth(depth_mag: np.ndarray | float) -> np.ndarray:
    """1-sigma flux error of a point source [nmgy] at a 5-sigma depth [AB mag]."""
    return mag_to_nmgy(depth_mag) / 5.0


@lru_cache(maxsize=256)
def _sersic_b(n: float) -> float:
    return float(gammaincinv(2.0 * n, 0.5))


def sersic_b(n: np.ndarray | float) -> np.ndarray:
    """Sersic ``b_n``: half the light lies inside the half-light radius."""
    n = np.asarray(n, dtype=float)
    return np.vectorize(_sersic_b, otypes=[float])(n)


def sersic_enclosed_fraction(
    radius: np.ndarray | float,
    r_e: np.ndarray | float,
    n: np.ndarray | float,
    trunc: float = np.inf,
) -> np.ndarray:
    """Fraction of a circular Sersic profile's flux inside ``radius``.

    Parameters
    ----------
    radius, r_e : array_like
        Aperture radius and half-light radius (same units).
    n : array_like
        Sersic index.
    trunc : float
        Truncation radius in units of ``r_e`` (the renderer truncates profiles; the
        flux is normalised inside the truncation).
    """
    radius = np.asarray(radius, dtype=float)
    r_e = np.asarray(r_e, dtype=float)
    n = np.asarray(n, dtype=float)
    b = sersic_b(n)
    x = b * np.clip(radius / r_e, 0.0, trunc) ** (1.0 / n)
    norm = gammainc(2.0 * n, b * trunc ** (1.0 / n)) if np.isfinite(trunc) else 1.0
    return gammainc(2.0 * n, x) / norm


def sersic_isophote_radius(
    flux: np.ndarray,
    r_e: np.ndarray,
    n: np.ndarray,
    level: float,
    trunc: float = np.inf,
) -> np.ndarray:
    """Circularised radius where a Sersic profile's surface brightness falls to ``level``.

    ``I(r) = I_e exp(-b_n ((r / r_e)^(1/n) - 1))`` with ``I_e`` fixed by the total
    ``flux``; ``r_e`` is the circularised half-light radius [arcsec] and ``level`` is in
    flux units per arcsec^2. Zero where even the centre is fainter than ``level``.
    """
    flux = np.asarray(flux, dtype=float)
    r_e = np.asarray(r_e, dtype=float)
    n = np.asarray(n, dtype=float)
    b = sersic_b(n)
    i_e = flux / (2.0 * np.pi * n * np.exp(b) * b ** (-2.0 * n) * gamma(2.0 * n) * r_e**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = 1.0 + np.log(i_e / level) / b
        radius = np.where(arg > 0, r_e * np.clip(arg, 0, None) ** n, 0.0)
    return np.minimum(radius, trunc * r_e)


def moffat_alpha(fwhm: np.ndarray | float, beta: float) -> np.ndarray:
    """Moffat scale radius ``alpha`` for a given FWHM and ``beta``."""
    return np.asarray(fwhm, dtype=float) / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_isophote_radius(
    flux: np.ndarray, fwhm: float, beta: float, level: float
) -> np.ndarray:
    """Radius where a Moffat point source of ``flux`` falls to surface brightness ``level``."""
    flux = np.asarray(flux, dtype=float)
    alpha = float(moffat_alpha(fwhm, beta))
    i0 = flux * (beta - 1.0) / (np.pi * alpha**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(i0 > level, (i0 / level) ** (1.0 / beta) - 1.0, 0.0)
    return alpha * np.sqrt(np.clip(ratio, 0.0, None))
