"""SDSS ugriz imaging of the simulated sources: fluxes, PSF and depth (physics only).

The universe carries DECam g, r, z fluxes (with DECam Milky-Way transmission). SDSS
ugriz fluxes are derived from them: g, r, z are taken as the SDSS bands (colour terms
< 0.1 mag are neglected), i is interpolated in log flux between r and z at the band
centres, u comes from a u - g colour that follows g - r (galaxies: 0.3 + 2.0 (g - r),
blue cloud ~1.1, red sequence ~1.8; stars: 0.6 + 1.5 (g - r); quasars: 0.25), and the
Galactic extinction is swapped for the SDSS coefficients (Schlafly & Finkbeiner 2011).
The PSF is one seeing per SDSS field (0.2 deg cells), median ~1.3 arcsec in r; depths
are the SDSS 5-sigma point-source limits (u 22.0, g 22.2, r 22.2, i 21.3, z 20.5).
Units: fluxes in nanomaggies, angles in arcsec.
"""

from __future__ import annotations

import numpy as np

from galstar.simulate.photometry import EXTINCTION_R, pixel_sigma_from_depth

__all__ = ["SDSS_BANDS", "SDSS_PIXSCALE", "SDSS_DEPTH", "SDSS_EXTINCTION_R",
           "SDSS_DEPTH_PSF_FWHM", "ugriz_fluxes", "sdss_psf_fwhm", "sdss_pixel_sigma"]

SDSS_BANDS = "ugriz"
#: SDSS imaging camera pixel scale [arcsec/pixel].
SDSS_PIXSCALE = 0.396
#: 5-sigma point-source depths [AB mag] (SDSS DR7 imaging).
SDSS_DEPTH: dict[str, float] = {"u": 22.0, "g": 22.2, "r": 22.2, "i": 21.3, "z": 20.5}
#: PSF FWHM [arcsec] the depths refer to.
SDSS_DEPTH_PSF_FWHM = 1.4
#: A_band / E(B-V) for SDSS (Schlafly & Finkbeiner 2011, R_V = 3.1).
SDSS_EXTINCTION_R: dict[str, float] = {"u": 4.239, "g": 3.303, "r": 2.285, "i": 1.698,
                                       "z": 1.263}
_CENTRE_A = {"r": 6231.0, "i": 7625.0, "z": 9134.0}
_PSF_BAND_RATIO = np.array([1.12, 1.06, 1.0, 0.95, 0.95])  # u g r i z over r
_FIELD_DEG = 0.2


def ugriz_fluxes(flux_grz: np.ndarray, kind: np.ndarray, ebv: np.ndarray) -> np.ndarray:
    """(n, 5) observed SDSS ugriz fluxes [nmgy] from DECam grz.

    Parameters
    ----------
    flux_grz : (n, 3) array
        Observed DECam g, r, z fluxes [nmgy], Milky-Way transmission applied.
    kind : (n,) array of str
        ``galaxy``, ``star`` or ``qso`` (sets the u - g colour).
    ebv : (n,) array
        E(B-V) [mag].
    """
    flux_grz = np.asarray(flux_grz, dtype=float)
    ebv = np.asarray(ebv, dtype=float)
    intrinsic = flux_grz / np.stack(
        [10 ** (-0.4 * EXTINCTION_R[b] * ebv) for b in "grz"], axis=1)
    f = np.maximum(intrinsic, 1e-6)
    g, r, z = f[:, 0], f[:, 1], f[:, 2]
    frac = np.log(_CENTRE_A["i"] / _CENTRE_A["r"]) / np.log(_CENTRE_A["z"] / _CENTRE_A["r"])
    i = r * (z / r) ** frac
    g_r = -2.5 * np.log10(g / r)
    kind = np.asarray(kind)
    u_g = np.where(kind == "galaxy", np.clip(0.3 + 2.0 * g_r, 0.5, 2.3),
                   np.where(kind == "star", np.clip(0.6 + 1.5 * g_r, 0.6, 2.8), 0.25))
    u = g * 10 ** (-0.4 * u_g)
    out = np.stack([u, g, r, i, z], axis=1)
    trans = np.stack([10 ** (-0.4 * SDSS_EXTINCTION_R[b] * ebv) for b in SDSS_BANDS], axis=1)
    return np.where(intrinsic[:, [0, 0, 1, 1, 2]] > 0, out, 0.0) * trans


def sdss_psf_fwhm(ra: float, dec: float, seed: int) -> np.ndarray:
    """PSF FWHM [arcsec] in u, g, r, i, z of the SDSS field holding (ra, dec).

    One seeing per 0.2 deg cell (about an SDSS field), lognormal around 1.3 arcsec in r
    (0.15 dex), clipped to 0.9-2.2; a pure function of (cell, seed).
    """
    cell = (int(np.floor(np.mod(ra, 360.0) / _FIELD_DEG)),
            int(np.floor((dec + 90.0) / _FIELD_DEG)))
    rng = np.random.default_rng([int(seed), 211, *cell])
    r_fwhm = float(np.clip(1.3 * 10 ** rng.normal(0.0, 0.06), 0.9, 2.2))
    # rounded to 0.01 arcsec: the renderer caches one PSF transform per value
    return np.round(np.clip(r_fwhm * _PSF_BAND_RATIO, 0.8, 2.5), 2)


def sdss_pixel_sigma() -> np.ndarray:
    """Per-pixel sky noise [nmgy/pixel] in u, g, r, i, z from :data:`SDSS_DEPTH`."""
    return np.array([pixel_sigma_from_depth(SDSS_DEPTH[b], SDSS_DEPTH_PSF_FWHM,
                                            SDSS_PIXSCALE) for b in SDSS_BANDS])
