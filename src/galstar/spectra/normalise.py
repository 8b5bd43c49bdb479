"""Flux normalisation of a resampled spectrum: three passes of smooth, continuum, baseline.

As in the 2025 thesis (section 4.2.2), each pass (1) smooths with a Savitzky-Golay
filter whose window and order BIC picks from a configured set
(:mod:`galstar.spectra.smoothing`), (2) estimates the pseudo-continuum
(:mod:`galstar.spectra.continuum`) and subtracts it (or divides by it), and (3) fits a
low-degree Legendre polynomial in ln(lambda) to the continuum pixels and removes it
the same way. The flux is first divided by its median so that counts (observed) and
erg/s/cm2/A (synthetic) end up on one scale. Observed and synthetic spectra must go
through this with the same settings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre

from galstar.options import check_option_names
from galstar.spectra.continuum import estimate_continuum
from galstar.spectra.smoothing import choose_savgol, savgol_bic

__all__ = ["NormaliseSettings", "Normalised", "normalise"]

MODES = ("subtract", "divide")


@dataclass(frozen=True)
class NormaliseSettings:
    """Settings of :func:`normalise`.

    Attributes
    ----------
    passes : int
        Smooth / continuum / baseline cycles (the thesis: 3).
    windows : tuple of int
        Savitzky-Golay window candidates [pixels, odd]. Wider windows suit noisier
        spectra or finer grids; keep the widest below the narrowest line to keep.
    polyorders : tuple of int
        Polynomial order candidates.
    search_every_pass : bool
        Run the BIC search in every pass (True) or only in the first and reuse its
        choice (cheaper, nearly the same result after pass 1).
    mode : {"subtract", "divide"}
        Remove continuum and baseline by subtraction (the thesis; output ~0 in the
        continuum, lines negative) or division (output ~1, lines below 1).
    continuum_block, continuum_percentile, continuum_iterations, clip_low, clip_high
        See :func:`~galstar.spectra.continuum.estimate_continuum`.
    baseline_degree : int
        Degree of the residual-baseline polynomial (0 only removes an offset).
    """

    passes: int = 3
    windows: tuple[int, ...] = (5, 9, 15, 25, 41)
    polyorders: tuple[int, ...] = (2, 3)
    search_every_pass: bool = True
    mode: str = "subtract"
    continuum_block: int = 512
    continuum_percentile: float = 90.0
    continuum_iterations: int = 3
    clip_low: float = 2.0
    clip_high: float = 3.0
    baseline_degree: int = 2

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"normalise: mode must be one of {MODES}, got {self.mode!r}")
        if self.passes < 1:
            raise ValueError(f"normalise: passes must be >= 1, got {self.passes}")

    @classmethod
    def from_mapping(cls, config: Mapping | None, key: str = "stellar.normalise"
                     ) -> NormaliseSettings:
        """Build from config ``key``; unknown keys raise ``ValueError`` naming them."""
        config = dict(config or {})
        check_option_names(config, cls, key)
        for key in ("windows", "polyorders"):
            if key in config:
                config[key] = tuple(int(v) for v in config[key])
        return cls(**config)


@dataclass(frozen=True)
class Normalised:
    """A normalised spectrum and what each pass chose.

    Attributes
    ----------
    flux : numpy.ndarray
        Normalised flux (dimensionless).
    choices : tuple of (int, int)
        (window, polyorder) used in each pass.
    scale : float
        Median of the input flux, by which it was divided first.
    bic_seconds : float
        Time spent in the BIC search (for the benchmark).
    """

    flux: np.ndarray
    choices: tuple[tuple[int, int], ...]
    scale: float
    bic_seconds: float


def normalise(wavelength: np.ndarray, flux: np.ndarray,
              settings: NormaliseSettings = NormaliseSettings()) -> Normalised:
    """Normalise one spectrum on a uniform ln(lambda) grid.

    Parameters
    ----------
    wavelength : numpy.ndarray
        Increasing wavelengths [Angstrom], uniform in ln(lambda) (an arm grid), so that
        a window of pixels is the same velocity width everywhere.
    flux : numpy.ndarray
        Finite flux (any unit), same length.
    settings : NormaliseSettings

    Returns
    -------
    Normalised

    Raises
    ------
    ValueError
        If the flux is not finite, its median is not positive, or (divide mode) the
        continuum is not positive.
    """
    w = np.asarray(wavelength, dtype=np.float64)
    y = np.asarray(flux, dtype=np.float64)
    if y.shape != w.shape:
        raise ValueError(f"normalise: flux {y.shape} and wavelength {w.shape} differ")
    if not np.all(np.isfinite(y)):
        raise ValueError("normalise: flux has non-finite values (fill gaps first)")
    scale = float(np.median(y))
    if not scale > 0:
        raise ValueError(f"normalise: median flux {scale:g} is not positive")
    y = y / scale
    x = np.log(w)
    x = 2 * (x - x[0]) / (x[-1] - x[0]) - 1  # Legendre domain
    divide = settings.mode == "divide"
    choices: list[tuple[int, int]] = []
    bic_seconds = 0.0
    for k in range(settings.passes):
        if k == 0 or settings.search_every_pass:
            t0 = time.perf_counter()
            choice = choose_savgol(y, settings.windows, settings.polyorders)
            bic_seconds += time.perf_counter() - t0
            y = choice.smoothed
            picked = (choice.window, choice.polyorder)
        else:
            picked = choices[0]
            y, _ = savgol_bic(y, *picked)
        choices.append(picked)
        cont = estimate_continuum(
            w, y, block=settings.continuum_block, percentile=settings.continuum_percentile,
            iterations=settings.continuum_iterations, clip_low=settings.clip_low,
            clip_high=settings.clip_high)
        y = _remove(y, cont.continuum, divide, "continuum")
        coef = legendre.legfit(x[cont.accepted], y[cont.accepted], settings.baseline_degree)
        baseline = legendre.legval(x, coef)
        if divide:
            y = _remove(y, baseline, True, "baseline")
        else:
            y = y - baseline
    return Normalised(flux=y, choices=tuple(choices), scale=scale, bic_seconds=bic_seconds)


def _remove(y: np.ndarray, trend: np.ndarray, divide: bool, what: str) -> np.ndarray:
    if not divide:
        return y - trend
    if np.any(trend <= 0):
        raise ValueError(f"normalise: the {what} is not positive everywhere; use "
                         "mode='subtract' or a higher continuum percentile")
    return y / trend
