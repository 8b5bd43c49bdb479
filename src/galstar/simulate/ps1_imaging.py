"""Pan-STARRS1 grizy stack imaging of the simulated sources: fluxes, PSF, depth, exposure
(physics only).

The universe carries DECam g, r, z fluxes (with DECam Milky-Way transmission). PS1
grizy fluxes are derived from them as for SDSS (:mod:`galstar.simulate.sdss_imaging`):
g, r, z are taken as the PS1 bands (colour terms < 0.1 mag neglected), i is
interpolated in log flux between r and z at the band centres and y extrapolated from i
and z (the red continuum of a galaxy is close to a power law there); the Galactic
extinction is swapped for the PS1 coefficients (Schlafly & Finkbeiner 2011). The PSF is
one seeing per 0.4 deg cell (about a PS1 projection skycell), medians of the 3pi stacks
(g 1.31, r 1.19, i 1.11, z 1.07, y 1.02 arcsec; Chambers et al. 2016) with 0.04 dex
scatter, clipped to 0.9-1.6 arcsec; the stack exposure times vary by cell around the
3pi medians. Depths are the 3pi stack 5-sigma point-source limits (g 23.3, r 23.2,
i 23.1, z 22.3, y 21.4). Units: fluxes in nanomaggies, angles in arcsec, times in s.
"""

from __future__ import annotations

import numpy as np

from galstar.simulate.photometry import EXTINCTION_R, pixel_sigma_from_depth

__all__ = ["PS1_BANDS", "PS1_PIXSCALE", "PS1_DEPTH", "PS1_EXTINCTION_R",
           "PS1_DEPTH_PSF_FWHM", "PS1_EXPTIME", "PS1_CELL_DEG", "grizy_fluxes", "ps1_cell",
           "ps1_psf_fwhm", "ps1_exptime", "ps1_pixel_sigma", "zero_point"]

PS1_BANDS = "grizy"
#: PS1 stack (and fitscut) pixel scale [arcsec/pixel].
PS1_PIXSCALE = 0.25
#: 5-sigma point-source depths [AB mag] of the 3pi stacks (Chambers et al. 2016).
PS1_DEPTH: dict[str, float] = {"g": 23.3, "r": 23.2, "i": 23.1, "z": 22.3, "y": 21.4}
#: PSF FWHM [arcsec] the depths refer to.
PS1_DEPTH_PSF_FWHM = 1.15
#: A_band / E(B-V) for PS1 (Schlafly & Finkbeiner 2011, R_V = 3.1).
PS1_EXTINCTION_R: dict[str, float] = {"g": 3.172, "r": 2.271, "i": 1.682, "z": 1.322,
                                      "y": 1.087}
#: Median 3pi stack exposure times [s] per band.
PS1_EXPTIME: dict[str, float] = {"g": 516.0, "r": 432.0, "i": 720.0, "z": 480.0,
                                 "y": 420.0}
#: Side of the cells sharing one seeing and one set of exposure times [deg].
PS1_CELL_DEG = 0.4
_PSF_MEDIAN = np.array([1.31, 1.19, 1.11, 1.07, 1.02])
_CENTRE_A = {"r": 6215.0, "i": 7545.0, "z": 8679.0, "y": 9633.0}


def grizy_fluxes(flux_grz: np.ndarray, ebv: np.ndarray) -> np.ndarray:
    """(n, 5) observed PS1 grizy fluxes [nmgy] from DECam grz.

    Parameters
    ----------
    flux_grz : (n, 3) array
        Observed DECam g, r, z fluxes [nmgy], Milky-Way transmission applied.
    ebv : (n,) array
        E(B-V) [mag].
    """
    flux_grz = np.asarray(flux_grz, dtype=float)
    ebv = np.asarray(ebv, dtype=float)
    intrinsic = flux_grz / np.stack(
        [10 ** (-0.4 * EXTINCTION_R[b] * ebv) for b in "grz"], axis=1)
    f = np.maximum(intrinsic, 1e-6)
    g, r, z = f[:, 0], f[:, 1], f[:, 2]
    frac_i = np.log(_CENTRE_A["i"] / _CENTRE_A["r"]) / np.log(_CENTRE_A["z"] / _CENTRE_A["r"])
    i = r * (z / r) ** frac_i
    frac_y = np.log(_CENTRE_A["y"] / _CENTRE_A["z"]) / np.log(_CENTRE_A["z"] / _CENTRE_A["i"])
    y = z * np.clip(z / i, 0.8, 1.6) ** frac_y
    out = np.stack([g, r, i, z, y], axis=1)
    trans = np.stack([10 ** (-0.4 * PS1_EXTINCTION_R[b] * ebv) for b in PS1_BANDS], axis=1)
    return np.where(intrinsic[:, [0, 1, 1, 2, 2]] > 0, out, 0.0) * trans


def ps1_cell(ra: float, dec: float) -> tuple[int, int]:
    """The (ra, dec) cell index of :data:`PS1_CELL_DEG` holding a position."""
    return (int(np.floor(np.mod(ra, 360.0) / PS1_CELL_DEG)),
            int(np.floor((dec + 90.0) / PS1_CELL_DEG)))


def ps1_psf_fwhm(ra: float, dec: float, seed: int) -> np.ndarray:
    """PSF FWHM [arcsec] in g, r, i, z, y of the cell holding (ra, dec).

    A pure function of (cell, seed), rounded to 0.01 arcsec (the renderer caches one
    PSF transform per value).
    """
    rng = np.random.default_rng([int(seed), 223, *ps1_cell(ra, dec)])
    return np.round(np.clip(_PSF_MEDIAN * 10 ** rng.normal(0.0, 0.04), 0.9, 1.6), 2)


def ps1_exptime(ra: float, dec: float, seed: int) -> np.ndarray:
    """Stack exposure times [s] in g, r, i, z, y of the cell holding (ra, dec): the
    medians of :data:`PS1_EXPTIME` times a factor 0.6-1.5 per band and cell."""
    rng = np.random.default_rng([int(seed), 227, *ps1_cell(ra, dec)])
    base = np.array([PS1_EXPTIME[b] for b in PS1_BANDS])
    return np.round(base * rng.uniform(0.6, 1.5, len(PS1_BANDS)), 1)


def zero_point(exptime: np.ndarray | float) -> np.ndarray | float:
    """AB zero point of a PS1 stack in counts: ``25 + 2.5 log10(EXPTIME)``."""
    return 25.0 + 2.5 * np.log10(exptime)


def ps1_pixel_sigma() -> np.ndarray:
    """Per-pixel sky noise [nmgy/pixel] in g, r, i, z, y from :data:`PS1_DEPTH`."""
    return np.array([pixel_sigma_from_depth(PS1_DEPTH[b], PS1_DEPTH_PSF_FWHM, PS1_PIXSCALE)
                     for b in PS1_BANDS])
