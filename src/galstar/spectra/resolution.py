"""Resolution matching: degrade a high-resolution spectrum to resolving power R.

A spectrograph of resolving power R blurs with a kernel of FWHM = lambda / R, i.e. a
constant width 1/R in ln(lambda). On a grid uniform in ln(lambda) one Gaussian kernel
therefore serves the whole range: the spectrum is put on such a grid with
``samples_per_fwhm`` pixels per FWHM (flux-conserving SpectRes where that grid is
coarser than the input, linear interpolation where it is finer), convolved with
``scipy.ndimage.gaussian_filter1d``, and taken back to the requested wavelengths.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from galstar.spectra.resample import resample_flux

__all__ = ["FWHM_TO_SIGMA", "as_array", "degrade", "degrade_log"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def as_array(x, unit: str | None = None) -> np.ndarray:
    """float64 array from an array or an astropy Quantity (converted to ``unit``, e.g.
    ``"Angstrom"``, so a wavelength in nm or um is not mistaken for Angstrom)."""
    if hasattr(x, "unit"):
        return np.asarray(x.to_value(unit) if unit else x.value, dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def degrade_log(wavelength: np.ndarray, flux: np.ndarray, resolving_power: float,
                samples_per_fwhm: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Convolve to resolving power R on a uniform ln(lambda) grid.

    Parameters
    ----------
    wavelength : numpy.ndarray or astropy.units.Quantity
        Strictly increasing wavelengths [Angstrom] (any sampling).
    flux : numpy.ndarray or astropy.units.Quantity
        Flux density there (..., n); leading axes are independent spectra.
    resolving_power : float
        Target R = lambda / FWHM; must be below the input's own resolution to mean
        anything (BT-Settl: >= 300,000; CARMENES VIS 94,600, NIR 80,400).
    samples_per_fwhm : float
        Pixels per kernel FWHM on the working grid (8 widens the line by < 0.5 %).

    Returns
    -------
    log_wavelength : numpy.ndarray
        The working grid [Angstrom], uniform in ln(lambda), inside the input range.
    flux : numpy.ndarray
        The degraded flux on it.
    """
    if not resolving_power > 0:
        raise ValueError(f"degrade: resolving power must be > 0, got {resolving_power}")
    w = as_array(wavelength, "Angstrom")
    f = as_array(flux)
    lnw = np.log(w)
    step = 1.0 / (resolving_power * samples_per_fwhm)
    # Half a step inside both ends so that SpectRes's edge pixels stay inside the data.
    ln_grid = np.arange(lnw[0] + step / 2, lnw[-1] - step / 2, step)
    grid = np.exp(ln_grid)
    native = np.median(np.diff(lnw))
    if step > native:
        on_grid = resample_flux(grid, w, f)
        on_grid = np.where(np.isfinite(on_grid), on_grid, _interp(ln_grid, lnw, f))
    else:
        on_grid = _interp(ln_grid, lnw, f)
    sigma_px = samples_per_fwhm * FWHM_TO_SIGMA
    return grid, gaussian_filter1d(on_grid, sigma_px, axis=-1, mode="nearest", truncate=4.0)


def degrade(wavelength: np.ndarray, flux: np.ndarray, resolving_power: float,
            out_wavelength: np.ndarray | None = None, samples_per_fwhm: float = 8.0
            ) -> np.ndarray:
    """Degrade to resolving power R and interpolate onto ``out_wavelength``.

    Parameters
    ----------
    wavelength, flux, resolving_power, samples_per_fwhm
        As in :func:`degrade_log`.
    out_wavelength : numpy.ndarray, optional
        Where to return the flux [Angstrom] (default: ``wavelength``), by linear
        interpolation; use :func:`~galstar.spectra.resample.resample_flux` on the output
        of :func:`degrade_log` instead when the target pixels are much wider than
        lambda / R (an arm grid).

    Returns
    -------
    numpy.ndarray
        Degraded flux at ``out_wavelength``.
    """
    grid, degraded = degrade_log(wavelength, flux, resolving_power, samples_per_fwhm)
    out = as_array(wavelength if out_wavelength is None else out_wavelength, "Angstrom")
    return _interp(np.log(out), np.log(grid), degraded)


def _interp(x_new: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """np.interp along the last axis of a (..., n) array."""
    if y.ndim == 1:
        return np.interp(x_new, x, y)
    flat = y.reshape(-1, y.shape[-1])
    return np.stack([np.interp(x_new, x, row) for row in flat]).reshape(
        y.shape[:-1] + (x_new.size,))
