"""Synthetic-grid spectra made comparable with the observed ones.

Thesis section 4.2.5: truncate a BT-Settl spectrum to an arm's range, degrade it to the
arm's resolving power (:mod:`galstar.spectra.resolution`), put it on the arm grid the
observed stars are resampled onto (flux-conserving, as they are) and normalise it with
the same settings. Augmentation is optional: a radial-velocity shift (applied to the
rest-frame wavelengths before the instrument blur, as for a real star) and Gaussian
noise at a target S/N (added on the arm grid, before normalisation, as in an
observation). Interpolation between grid nodes is not done here: the grid is used at
its nodes (100 K, 0.5 dex steps), which the issue leaves optional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import constants as const

from galstar.spectra.normalise import Normalised, NormaliseSettings, normalise
from galstar.spectra.resample import ArmGrid, resample_flux
from galstar.spectra.resolution import as_array, degrade_log

__all__ = [
    "RESOLVING_POWER",
    "GridSpectrum",
    "add_noise",
    "degrade_to_grid",
    "prepare_grid_spectrum",
    "rv_shift",
    "truncate",
]

#: CARMENES resolving powers per arm.
RESOLVING_POWER = {"vis": 94600.0, "nir": 80400.0}
_C_KMS = const.c.to_value("km/s")


def truncate(wavelength: np.ndarray, flux: np.ndarray, start: float, stop: float,
             margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``start / (1 + margin) <= lambda <= stop * (1 + margin)``.

    Parameters
    ----------
    wavelength, flux : numpy.ndarray
        Increasing wavelengths [Angstrom] and flux (..., n).
    start, stop : float
        Arm range [Angstrom].
    margin : float
        Relative margin each side, so that the blur and the resampling at the arm's
        edges see real data (:func:`degrade_to_grid` uses 6 / R plus two grid pixels).

    Returns
    -------
    wavelength, flux : numpy.ndarray
        Views of the kept part.

    Raises
    ------
    ValueError
        If fewer than two points are left.
    """
    lo = np.searchsorted(wavelength, start / (1 + margin), side="left")
    hi = np.searchsorted(wavelength, stop * (1 + margin), side="right")
    if hi - lo < 2:
        raise ValueError(f"truncate: no data between {start:g} and {stop:g} A (spectrum "
                         f"covers {wavelength[0]:g}-{wavelength[-1]:g} A)")
    return wavelength[lo:hi], flux[..., lo:hi]


def rv_shift(wavelength: np.ndarray, rv_kms: float) -> np.ndarray:
    """Wavelengths of a source receding at ``rv_kms`` (relativistic Doppler factor)."""
    beta = rv_kms / _C_KMS
    return np.asarray(wavelength, dtype=np.float64) * np.sqrt((1 + beta) / (1 - beta))


def add_noise(flux: np.ndarray, snr: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Add photon-like Gaussian noise with S/N ``snr`` at the median flux.

    sigma_i = median(F) / snr * sqrt(F_i / median(F)), so S/N scales as sqrt(F) as for
    photon noise (non-positive flux gets the median's sigma).

    Returns
    -------
    noisy_flux, sigma : numpy.ndarray
    """
    if not snr > 0:
        raise ValueError(f"add_noise: snr must be > 0, got {snr}")
    f = np.asarray(flux, dtype=np.float64)
    med = np.median(f, axis=-1, keepdims=True)
    ratio = np.where(f > 0, f / med, 1.0)
    sigma = med / snr * np.sqrt(ratio)
    return f + sigma * rng.standard_normal(f.shape), sigma


def degrade_to_grid(wavelength: np.ndarray, flux: np.ndarray, grid: ArmGrid,
                    resolving_power: float, rv_kms: float = 0.0,
                    samples_per_fwhm: float = 8.0) -> np.ndarray:
    """Truncate, (shift,) degrade and resample a synthetic spectrum onto an arm grid.

    Parameters
    ----------
    wavelength, flux : numpy.ndarray or astropy.units.Quantity
        Rest-frame synthetic spectrum [Angstrom] and F_lambda (..., n), e.g. from
        :func:`~galstar.spectra.btsettl.read_btsettl`.
    grid : ArmGrid
        The arm grid of the observed stars.
    resolving_power : float
        The arm's R (:data:`RESOLVING_POWER`).
    rv_kms : float
        Radial velocity to shift by before the blur (augmentation; 0: none).
    samples_per_fwhm : float
        Working-grid sampling of the blur.

    Returns
    -------
    numpy.ndarray
        Flux on ``grid.wavelength()`` (mean flux density over each grid pixel).
    """
    w = as_array(wavelength, "Angstrom")
    f = as_array(flux)
    if rv_kms:
        w = rv_shift(w, rv_kms)
    margin = 6.0 / resolving_power + 2.0 / grid.sampling_resolution
    w, f = truncate(w, f, grid.start, grid.stop, margin)
    log_w, degraded = degrade_log(w, f, resolving_power, samples_per_fwhm)
    return resample_flux(grid.wavelength(), log_w, degraded)


@dataclass(frozen=True)
class GridSpectrum:
    """A synthetic spectrum ready for training.

    Attributes
    ----------
    wavelength : numpy.ndarray
        The arm grid [Angstrom].
    resampled : numpy.ndarray
        Degraded flux on the grid before normalisation (noise included if asked).
    normalised : Normalised
        The same normalisation as the observed stars.
    """

    wavelength: np.ndarray
    resampled: np.ndarray
    normalised: Normalised


def prepare_grid_spectrum(wavelength: np.ndarray, flux: np.ndarray, grid: ArmGrid,
                          resolving_power: float,
                          settings: NormaliseSettings | None = None,
                          rv_kms: float = 0.0, snr: float | None = None,
                          rng: np.random.Generator | None = None) -> GridSpectrum:
    """Everything the observed stars go through, for one synthetic spectrum and arm.

    Parameters
    ----------
    wavelength, flux, grid, resolving_power, rv_kms
        As in :func:`degrade_to_grid`.
    settings : NormaliseSettings, optional
        Must be the observed stars' settings (default: the defaults).
    snr : float, optional
        Add noise at this S/N (needs ``rng``).
    rng : numpy.random.Generator, optional
        Noise source.

    Returns
    -------
    GridSpectrum

    Raises
    ------
    ValueError
        If the spectrum does not cover the whole arm grid, or ``snr`` without ``rng``.
    """
    on_grid = degrade_to_grid(wavelength, flux, grid, resolving_power, rv_kms)
    if not np.all(np.isfinite(on_grid)):
        raise ValueError(f"prepare_grid_spectrum: the spectrum does not cover the arm grid "
                         f"{grid.start:g}-{grid.stop:g} A")
    if snr is not None:
        if rng is None:
            raise ValueError("prepare_grid_spectrum: snr needs rng")
        on_grid, _ = add_noise(on_grid, snr, rng)
    grid_w = grid.wavelength()
    return GridSpectrum(wavelength=grid_w, resampled=on_grid,
                        normalised=normalise(grid_w, on_grid,
                                             settings or NormaliseSettings()))
