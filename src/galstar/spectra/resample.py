"""Flux-conserving resampling onto one fixed wavelength grid per arm (SpectRes).

Stitched spectra differ in length from star to star; each arm is resampled onto one
grid uniform in ln(lambda) (:class:`ArmGrid`), so every star and every synthetic
spectrum gives a vector of the same length. Resampling is SpectRes (Carnall 2017):
the mean flux density over each new pixel, which conserves the integrated flux.
SpectRes's Numba build is used when Numba imports (about 50x faster than its
pure-Python loop, which costs ~1 s per CARMENES arm); its first call compiles (cached
on disk afterwards). Grid pixels that fall in a recorded gap or beyond the spectrum's
coverage are filled by linear interpolation from their neighbours and flagged.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from galstar.options import check_option_names

try:  # the Numba build: same function, compiled
    from spectres.spectral_resampling_numba import spectres_numba as _spectres

    SPECTRES_BACKEND = "numba"
except ImportError:  # pragma: no cover - Numba is in requirements.txt
    from spectres import spectres as _spectres

    SPECTRES_BACKEND = "python"

__all__ = [
    "masked_fraction",
    "DEFAULT_GRIDS",
    "SPECTRES_BACKEND",
    "ArmGrid",
    "Resampled",
    "fill_masked",
    "resample_flux",
    "resample_to_grid",
]


@dataclass(frozen=True)
class ArmGrid:
    """A wavelength grid uniform in ln(lambda).

    Attributes
    ----------
    start, stop : float
        First and last pixel centre [Angstrom]; keep them inside every star's coverage
        (pixels outside are filled and flagged).
    n_pixels : int
        Length of the model input. ``n_pixels / ln(stop / start)`` is the sampling
        resolving power; 2 x R keeps the instrument's resolution (~113,000 pixels for
        the VIS arm at R = 94,600), fewer pixels bin lines together.
    """

    start: float
    stop: float
    n_pixels: int

    def __post_init__(self):
        if not (0 < self.start < self.stop) or self.n_pixels < 2:
            raise ValueError(f"ArmGrid needs 0 < start < stop and n_pixels >= 2, got {self}")

    def wavelength(self) -> np.ndarray:
        """Pixel centres [Angstrom], float64."""
        return np.geomspace(self.start, self.stop, self.n_pixels)

    @property
    def sampling_resolution(self) -> float:
        """lambda / delta-lambda of one pixel."""
        return (self.n_pixels - 1) / np.log(self.stop / self.start)

    @classmethod
    def from_mapping(cls, config: Mapping, key: str = "grid") -> ArmGrid:
        """Build from ``{start, stop, n_pixels}``; names the key on a bad entry."""
        check_option_names(config, cls, key)
        try:
            return cls(float(config["start"]), float(config["stop"]), int(config["n_pixels"]))
        except KeyError as err:
            raise ValueError(f"{key}: missing {err.args[0]!r}") from err


#: Default grids: inside CARMENES VIS (520-960 nm) and NIR (960-1710 nm) coverage.
DEFAULT_GRIDS = {
    "vis": ArmGrid(5250.0, 9550.0, 16384),
    "nir": ArmGrid(9650.0, 17050.0, 16384),
}


def resample_flux(new_wavelength: np.ndarray, wavelength: np.ndarray, flux: np.ndarray,
                  sigma: np.ndarray | None = None
                  ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """SpectRes onto ``new_wavelength``; NaN where a new pixel leaves the old range.

    Parameters
    ----------
    new_wavelength : numpy.ndarray
        Increasing pixel centres of the new grid.
    wavelength : numpy.ndarray
        Increasing pixel centres of ``flux``.
    flux : numpy.ndarray
        (..., n) flux densities; leading axes are independent spectra.
    sigma : numpy.ndarray, optional
        Uncertainties of ``flux`` (same shape), propagated by SpectRes.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        Resampled flux (and sigma), float64.
    """
    new = np.ascontiguousarray(new_wavelength, dtype=np.float64)
    old = np.ascontiguousarray(wavelength, dtype=np.float64)
    f = np.asarray(flux, dtype=np.float64)
    s = None if sigma is None else np.asarray(sigma, dtype=np.float64)
    if f.ndim > 1:  # one compiled signature (1-d) serves every call: loop the rows
        rows = [resample_flux(new, old, row, None if s is None else srow)
                for row, srow in zip(f.reshape(-1, f.shape[-1]),
                                     (s if s is not None else f).reshape(-1, f.shape[-1]),
                                     strict=True)]
        shape = f.shape[:-1] + (new.size,)
        if s is None:
            return np.stack(rows).reshape(shape)
        return (np.stack([r[0] for r in rows]).reshape(shape),
                np.stack([r[1] for r in rows]).reshape(shape))
    # Always pass an error array, so Numba compiles one signature only (~10 s each).
    errs = np.zeros_like(f) if s is None else np.ascontiguousarray(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        new_f, new_s = _spectres(new, old, np.ascontiguousarray(f), errs, fill=np.nan,
                                 verbose=False)
    return new_f if s is None else (new_f, new_s)


@dataclass(frozen=True)
class Resampled:
    """A spectrum on an arm grid.

    Attributes
    ----------
    wavelength, flux, sigma : numpy.ndarray
        Grid pixel centres [Angstrom] and the resampled flux and sigma.
    filled : numpy.ndarray
        bool, True for pixels inside a gap or beyond the coverage (interpolated).
    """

    wavelength: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    filled: np.ndarray

    @property
    def filled_fraction(self) -> float:
        """Fraction of grid pixels that were filled."""
        return float(np.mean(self.filled))


def resample_to_grid(wavelength: np.ndarray, flux: np.ndarray, sigma: np.ndarray | None,
                     grid: np.ndarray, gaps: Sequence = ()) -> Resampled:
    """Resample one spectrum onto a grid, filling and flagging gaps.

    Parameters
    ----------
    wavelength, flux : numpy.ndarray
        Strictly increasing wavelengths [Angstrom] and the flux there.
    sigma : numpy.ndarray or None
        Uncertainties (NaN allowed; None: all NaN out).
    grid : numpy.ndarray
        The arm grid's pixel centres (:meth:`ArmGrid.wavelength`).
    gaps : sequence of Gap
        Holes in ``wavelength`` (``start``, ``stop`` attributes); grid pixels strictly
        inside one are filled.

    Returns
    -------
    Resampled
        Finite flux everywhere, with the filled pixels flagged.
    """
    sig = np.full_like(flux, np.nan, dtype=np.float64) if sigma is None else sigma
    new_f, new_s = resample_flux(grid, wavelength, flux, sig)
    filled = ~np.isfinite(new_f)
    for gap in gaps:
        lo = np.searchsorted(grid, gap.start, side="right")
        hi = np.searchsorted(grid, gap.stop, side="left")
        filled[lo:hi] = True
    ok = ~filled
    if not ok.any():
        raise ValueError("resample_to_grid: the spectrum does not cover the grid at all "
                         f"({wavelength[0]:.1f}-{wavelength[-1]:.1f} A vs "
                         f"{grid[0]:.1f}-{grid[-1]:.1f} A)")
    if filled.any():
        new_f = fill_masked(grid, new_f, filled)
        new_s = new_s.copy()
        new_s[filled] = np.nan
    return Resampled(wavelength=grid, flux=new_f, sigma=new_s, filled=filled)


def fill_masked(grid: np.ndarray, flux: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Replace ``flux[filled]`` by linear interpolation from the other pixels.

    The fill :func:`resample_to_grid` applies to an observed star's gaps; apply it with
    the star's ``filled`` mask to a synthetic spectrum on the same grid to give it the
    same holes.
    """
    ok = ~filled
    out = np.array(flux, dtype=np.float64, copy=True)
    out[filled] = np.interp(grid[filled], grid[ok], out[ok])
    return out


def _edges(wave: np.ndarray) -> np.ndarray:
    """Pixel edges as SpectRes draws them: midpoints, half a pixel beyond each end."""
    edges = np.empty(wave.size + 1)
    edges[1:-1] = 0.5 * (wave[1:] + wave[:-1])
    edges[0] = wave[0] - 0.5 * (wave[1] - wave[0])
    edges[-1] = wave[-1] + 0.5 * (wave[-1] - wave[-2])
    return edges


def masked_fraction(new_wave: np.ndarray, wave: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Fraction of each new pixel's width over masked (``bad``) old pixels (0 outside
    coverage).

    The same overlap weights as SpectRes, computed at once: the running integral of the
    0/1 indicator is piecewise linear, so :func:`numpy.interp` at the new edges is exact
    (a second SpectRes call would cost ~0.5 ms a spectrum).
    """
    old_e = _edges(wave)
    cum = np.concatenate(([0.0], np.cumsum(bad * np.diff(old_e))))
    new_e = _edges(new_wave)
    return np.diff(np.interp(new_e, old_e, cum)) / np.diff(new_e)
