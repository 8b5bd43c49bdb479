"""Stellar continua of the simulated galaxies: two populations, dust and the 4000 A break.

An old and a young population (blackbodies with a 4000 A break and the strongest
absorption lines) are tabulated on a fine rest-frame log grid, mixed by the young
population's light fraction, attenuated by the Calzetti et al. (2000) curve and
redshifted by shifting the log grid. Used by :mod:`galstar.simulate.galaxy_spectra`;
physics only.

Units: wavelengths in A (vacuum), continua normalised to 1 at rest 5500 A before dust.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["LOGLAM_STEP", "StellarPopulations", "calzetti_k", "stellar_continuum",
           "d4000_of_mix", "d4000n"]

#: Pixel width of SDSS coadded spectra and of the rest-frame templates [dex]: a
#: redshift is then a shift of the template by a (fractional) number of pixels.
LOGLAM_STEP = 1e-4


@dataclass(frozen=True)
class StellarPopulations:
    """The old and the young population (SDSS-like defaults).

    Attributes
    ----------
    t_old_k, t_young_k : float
        Blackbody temperatures [K] of the old and young continua.
    break_old, break_young : float
        Fractional flux deficit blueward of 4000 A of each population (sets D4000n ~1.9
        old, ~1.1 young).
    """

    t_old_k: float = 4600.0
    t_young_k: float = 11000.0
    break_old: float = 0.45
    break_young: float = 0.08


#: Stellar absorption features: vacuum rest wavelength [A], depth in the old and the
#: young population (fraction of the continuum at line centre), Gaussian sigma [A].
_ABSORPTION = np.array([
    # CaII K, CaII H, H-delta, G band, H-gamma, H-beta, Mg b, Fe 5270, Na D, H-alpha, CaT
    (3934.78, 0.45, 0.10, 6.0), (3969.59, 0.40, 0.12, 6.0), (4102.89, 0.12, 0.30, 9.0),
    (4305.0, 0.18, 0.03, 10.0), (4341.69, 0.10, 0.28, 9.0), (4862.68, 0.08, 0.22, 9.0),
    (5176.7, 0.15, 0.02, 12.0), (5270.0, 0.07, 0.01, 8.0), (5895.6, 0.12, 0.02, 7.0),
    (6564.61, 0.05, 0.12, 9.0), (8544.4, 0.10, 0.02, 8.0), (8664.5, 0.09, 0.02, 8.0),
])

def calzetti_k(wave_a: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) attenuation curve k(lambda) = A_lambda / E(B-V)_star.

    Parameters
    ----------
    wave_a : array
        Rest wavelength [A] (0.12-2.2 micron; extrapolated linearly outside).
    """
    x = 1e4 / np.asarray(wave_a, dtype=float)  # 1/micron
    blue = 2.659 * (-2.156 + 1.509 * x - 0.198 * x**2 + 0.011 * x**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 * x) + 4.05
    return np.where(x > 1.0 / 0.63, blue, red)


def _planck_lambda(wave_a: np.ndarray, t_k: float) -> np.ndarray:
    x = 1.438777e8 / (wave_a * t_k)  # hc / (lambda k T), lambda in A
    return wave_a**-5 / np.expm1(x)


def _population(wave_a: np.ndarray, t_k: float, break_depth: float, which: int) -> np.ndarray:
    """One stellar population on a rest grid, normalised to 1 at 5500 A."""
    def shape(w: np.ndarray) -> np.ndarray:
        cont = _planck_lambda(w, t_k)
        cont = cont * (1.0 - break_depth / (1.0 + np.exp((w - 4000.0) / 30.0)))
        for centre, d_old, d_young, sigma in _ABSORPTION:
            depth = d_old if which == 0 else d_young
            cont = cont * (1.0 - depth * np.exp(-0.5 * ((w - centre) / sigma) ** 2))
        return cont
    return shape(wave_a) / shape(np.array([5500.0]))[0]


_REST_LOGLAM0 = np.log10(2500.0)
_REST_N = int(np.ceil((np.log10(9800.0) - _REST_LOGLAM0) / LOGLAM_STEP))


@lru_cache(maxsize=4)
def _rest_templates(m: StellarPopulations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Old and young populations and Calzetti k on a fine rest log grid (cached)."""
    w = 10.0 ** (_REST_LOGLAM0 + LOGLAM_STEP * np.arange(_REST_N))
    return (_population(w, m.t_old_k, m.break_old, 0),
            _population(w, m.t_young_k, m.break_young, 1), calzetti_k(w))


def stellar_continuum(loglam_obs: np.ndarray, z: np.ndarray, young_fraction: np.ndarray,
                      dust_av: np.ndarray,
                      m: StellarPopulations = StellarPopulations()) -> np.ndarray:
    """Dust-attenuated old + young continuum, redshifted, 1 at rest 5500 A before dust.

    Parameters
    ----------
    loglam_obs : array, shape (n_pix,)
        Observed grid [log10 A], uniform in steps of :data:`LOGLAM_STEP`.
    z : array, shape (n,)
        Redshift; the rest grid must stay within 2500-9800 A, where the templates are
        tabulated at 1e-4 dex (a redshift is a shift of the log grid: each row is a
        contiguous slice of the template, linearly interpolated).
    young_fraction : array, shape (n,)
        The young population's share of the light at 5500 A.
    dust_av : array, shape (n,)
        V-band attenuation [mag] (Calzetti).

    Returns
    -------
    numpy.ndarray, shape (n, n_pix)
    """
    from numpy.lib.stride_tricks import sliding_window_view

    old, young, k = _rest_templates(m)
    loglam_obs = np.asarray(loglam_obs, dtype=float)
    npix = loglam_obs.size
    x0 = (loglam_obs[0] - np.log10(1.0 + np.asarray(z, dtype=float)) - _REST_LOGLAM0
          ) / LOGLAM_STEP
    if np.any(x0 < 0) or np.any(x0 + npix + 1 > _REST_N):
        raise ValueError("stellar_continuum: the rest-frame grid leaves 2500-9800 A "
                         f"(z in [{np.min(z):.3f}, {np.max(z):.3f}])")
    i0 = np.floor(x0).astype(np.int64)
    t = (x0 - i0)[:, None]

    def at(table: np.ndarray) -> np.ndarray:
        win = sliding_window_view(table, npix + 1)[i0]
        return win[:, :-1] * (1.0 - t) + win[:, 1:] * t

    fy = np.asarray(young_fraction, dtype=float)[:, None]
    att = 10.0 ** (-0.4 / 4.05 * at(k) * np.asarray(dust_av, dtype=float)[:, None])
    return ((1.0 - fy) * at(old) + fy * at(young)) * att


def d4000_of_mix(young_fraction: np.ndarray, dust_av: np.ndarray,
                 m: StellarPopulations = StellarPopulations()) -> np.ndarray:
    """Noiseless D4000n of the attenuated old + young mix (rest frame)."""
    old, young, k = _rest_templates(m)
    w = 10.0 ** (_REST_LOGLAM0 + LOGLAM_STEP * np.arange(_REST_N))
    sel = (w > 3800.0) & (w < 4150.0)
    fy = np.asarray(young_fraction, dtype=float)[:, None]
    att = 10.0 ** (-0.4 / 4.05 * k[sel] * np.asarray(dust_av, dtype=float)[:, None])
    return d4000n(w[sel], ((1.0 - fy) * old[sel] + fy * young[sel]) * att)


def d4000n(wave_rest_a: np.ndarray, flux_lambda: np.ndarray) -> np.ndarray:
    """Narrow 4000 A break (Balogh et al. 1999): <f_nu> 4000-4100 over 3850-3950 A.

    ``flux_lambda`` is (n, n_pix) on the (n, n_pix) or (n_pix,) rest grid; rows not
    covering both windows give NaN.
    """
    w = np.broadcast_to(np.asarray(wave_rest_a, dtype=float), flux_lambda.shape)
    fnu = flux_lambda * w**2
    red = (w >= 4000.0) & (w <= 4100.0)
    blue = (w >= 3850.0) & (w <= 3950.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(red, fnu, 0.0).sum(1) / red.sum(1)
        b = np.where(blue, fnu, 0.0).sum(1) / blue.sum(1)
        out = r / b
    return np.where((red.sum(1) > 5) & (blue.sum(1) > 5), out, np.nan)
