"""An SDSS spectrum onto the model's fixed observed-frame log-lambda grid.

:func:`to_grid`: mask (``ivar == 0``, non-finite values, chosen SPPIXMASK bits of
and_mask), flux-conserving resampling of flux and error (SpectRes, Numba build, errors
in quadrature: :func:`galstar.spectra.resample.resample_flux`), normalisation (median,
or median in a continuum window), filling of masked pixels, and the mask as a second
channel. The grid stays in the observed frame because redshift is a target.

Masked native pixels are first bridged by linear interpolation so they cannot leak
into the resampled flux; the resampled bad-pixel fraction then flags a grid pixel as
masked when it exceeds ``SdssGridSettings.mask_threshold``. Reason codes raised as
:class:`~galstar.spectra.errors.Rejected`: ``nonfinite_flux``, ``all_masked``,
``no_coverage``, ``bad_normalisation``, ``bad_wavelength``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from galstar.options import check_option_names
from galstar.spectra.errors import Rejected
from galstar.spectra.resample import masked_fraction, resample_flux
from galstar.spectra.sdss import Spectrum

__all__ = ["DEFAULT_BAD_BITS", "DEFAULT_SDSS_GRID", "SPPIXMASK", "SdssGridSettings",
           "SpectrumGrid", "bad_bits_value", "to_grid"]

#: SDSS SPPIXMASK bits (idlutils ``sdssMaskbits.par``): 0-15 per fibre, 16-28 per pixel.
SPPIXMASK = {
    "NOPLUG": 0, "BADTRACE": 1, "BADFLAT": 2, "BADARC": 3, "MANYBADCOLUMNS": 4,
    "MANYREJECTED": 5, "LARGESHIFT": 6, "BADSKYFIBER": 7, "NEARWHOPPER": 8, "WHOPPER": 9,
    "SMEARIMAGE": 10, "SMEARHIGHSN": 11, "SMEARMEDSN": 12,
    "NEARBADPIXEL": 16, "LOWFLAT": 17, "FULLREJECT": 18, "PARTIALREJECT": 19,
    "SCATTEREDLIGHT": 20, "CROSSTALK": 21, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24,
    "COMBINEREJ": 25, "BADFLUXFACTOR": 26, "BADSKYCHI": 27, "REDMONSTER": 28,
}

#: and_mask bits that mask a pixel by default: failed extraction or calibration and
#: bad sky. Left out are warnings that SDSS sets on usable data: MANYBADCOLUMNS (set on
#: 1755 of the fixture's 3838 pixels), MANYREJECTED, LARGESHIFT, BADSKYFIBER, the
#: WHOPPER and SMEAR bits, NEARBADPIXEL, PARTIALREJECT, SCATTEREDLIGHT, CROSSTALK.
DEFAULT_BAD_BITS = ("NOPLUG", "BADTRACE", "BADFLAT", "BADARC", "LOWFLAT", "FULLREJECT",
                    "NOSKY", "BRIGHTSKY", "NODATA", "COMBINEREJ", "BADFLUXFACTOR",
                    "BADSKYCHI", "REDMONSTER")


def bad_bits_value(names: Sequence[str]) -> int:
    """OR of the SPPIXMASK bits ``names``; raises naming an unknown bit."""
    value = 0
    for name in names:
        try:
            value |= 1 << SPPIXMASK[name.upper()]
        except KeyError:
            raise ValueError(f"bad_bits: unknown SPPIXMASK bit {name!r} (known: "
                             f"{', '.join(SPPIXMASK)})") from None
    return value


@dataclass(frozen=True)
class SpectrumGrid:
    """Observed-frame grid uniform in log10(lambda).

    Attributes
    ----------
    start, stop : float
        First and last pixel centre [Angstrom]. The default, 3800-9200 A, is the
        legacy SDSS-I/II spectrograph coverage (the DR7 galaxies of MPA-JHU); BOSS
        spectra (3600-10400 A) are trimmed to it. Pixels outside a spectrum's coverage
        are masked and filled.
    n_pixels : int
        Model input length; 4620 (the seed's) over 3800-9200 A is 8.3e-5 dex a pixel,
        slightly finer than SDSS's native 1e-4 dex (69 km/s).
    """

    start: float = 3800.0
    stop: float = 9200.0
    n_pixels: int = 4620

    def __post_init__(self):
        if not (0 < self.start < self.stop) or self.n_pixels < 2:
            raise ValueError(f"SpectrumGrid needs 0 < start < stop and n_pixels >= 2, "
                             f"got {self}")

    @property
    def dloglam(self) -> float:
        """Pixel width [dex]."""
        return float(np.log10(self.stop / self.start) / (self.n_pixels - 1))

    def loglam(self) -> np.ndarray:
        """log10 of the pixel centres [Angstrom], float64."""
        return np.linspace(np.log10(self.start), np.log10(self.stop), self.n_pixels)

    def wavelength(self) -> np.ndarray:
        """Pixel centres [Angstrom], float64."""
        return 10.0 ** self.loglam()

    def pixel_of(self, wavelength: float) -> int:
        """Index of the grid pixel holding ``wavelength`` [Angstrom]."""
        return int(np.rint((np.log10(wavelength) - np.log10(self.start)) / self.dloglam))

    @classmethod
    def from_mapping(cls, config: Mapping, key: str = "grid") -> SpectrumGrid:
        """Build from ``{start, stop, n_pixels}`` (each optional); names a bad key."""
        check_option_names(config, cls, key)
        d = cls()
        return cls(float(config.get("start", d.start)), float(config.get("stop", d.stop)),
                   int(config.get("n_pixels", d.n_pixels)))


DEFAULT_SDSS_GRID = SpectrumGrid()


@dataclass(frozen=True)
class SdssGridSettings:
    """How :func:`to_grid` masks, normalises and fills.

    Attributes
    ----------
    bad_bits : tuple of str
        and_mask (SPPIXMASK) bits that mask a pixel (:data:`DEFAULT_BAD_BITS`).
    mask_threshold : float
        A grid pixel is masked when more than this fraction of its flux comes from
        masked native pixels (0: any contribution masks it).
    normalise : str
        ``"median"``: divide by the median good-pixel flux; ``"window"``: by the median
        good-pixel flux in ``window``; ``"none"``.
    window : tuple of float
        Observed-frame continuum window [Angstrom] for ``normalise="window"``.
    fill : str
        Masked grid pixels: ``"linear"`` (interpolated across each masked run from its
        good neighbours, the nearest good value beyond the ends), ``"median"`` (the
        normalised median, 1 after median normalisation) or ``"zero"``.
    min_good_fraction : float
        Reject with ``all_masked`` when fewer grid pixels than this are good.
    """

    bad_bits: tuple[str, ...] = DEFAULT_BAD_BITS
    mask_threshold: float = 0.5
    normalise: str = "median"
    window: tuple[float, float] = (5400.0, 5800.0)
    fill: str = "linear"
    min_good_fraction: float = 0.05
    _bad_value: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self):
        object.__setattr__(self, "_bad_value", bad_bits_value(self.bad_bits))
        if self.normalise not in ("median", "window", "none"):
            raise ValueError(f"normalise: {self.normalise!r} is not median, window or none")
        if self.fill not in ("linear", "median", "zero"):
            raise ValueError(f"fill: {self.fill!r} is not linear, median or zero")
        if not 0 <= self.mask_threshold < 1:
            raise ValueError(f"mask_threshold: {self.mask_threshold} is not in [0, 1)")

    @property
    def bad_value(self) -> int:
        """The OR of ``bad_bits``."""
        return self._bad_value

    @classmethod
    def from_mapping(cls, config: Mapping, key: str = "spectra") -> SdssGridSettings:
        """Build from a config mapping of the attributes (each optional); names a bad key."""
        check_option_names(config, cls, key)
        kwargs = dict(config)
        for name in ("bad_bits", "window"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        try:
            return cls(**kwargs)
        except ValueError as err:
            raise ValueError(f"{key}.{err}") from None


@functools.lru_cache(maxsize=8)
def _grid_wavelength(grid: SpectrumGrid) -> np.ndarray:
    wave = grid.wavelength()
    wave.flags.writeable = False
    return wave


def to_grid(spectrum: Spectrum, grid: SpectrumGrid = DEFAULT_SDSS_GRID,
            settings: SdssGridSettings | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask, resample, normalise and fill one spectrum on ``grid``.

    Parameters
    ----------
    spectrum : Spectrum
        From :func:`galstar.spectra.sdss.read_spectrum`.
    grid : SpectrumGrid
    settings : SdssGridSettings, optional

    Returns
    -------
    flux : numpy.ndarray
        (n_pixels,) float32, normalised (dimensionless unless ``normalise="none"``,
        then 1e-17 erg/s/cm2/A), masked pixels filled.
    ivar : numpy.ndarray
        (n_pixels,) float32 inverse variance of ``flux``; 0 on masked pixels.
    mask : numpy.ndarray
        (n_pixels,) bool, True where masked (bad bits, ivar 0, outside coverage).

    Raises
    ------
    Rejected
        ``nonfinite_flux: <n> pixels`` (NaN or inf in flux or ivar), ``all_masked``
        (too few good pixels before or after resampling), ``no_coverage`` (the
        spectrum misses the grid), ``bad_normalisation`` (norm not finite and > 0) or
        ``bad_wavelength`` (loglam not strictly increasing).
    """
    settings = settings or SdssGridSettings()
    flux = spectrum.flux
    ivar = spectrum.ivar
    nonfinite = ~(np.isfinite(flux) & np.isfinite(ivar))
    if nonfinite.any():
        raise Rejected(f"nonfinite_flux: {int(nonfinite.sum())} of {flux.size} pixels")
    if flux.size > 1 and not np.all(np.diff(spectrum.loglam) > 0):
        raise Rejected("bad_wavelength: loglam is not strictly increasing")
    bad = (ivar <= 0) | ((spectrum.and_mask & settings.bad_value) != 0)
    good = ~bad
    n_good = int(good.sum())
    if n_good < 2:
        raise Rejected(f"all_masked: {n_good} of {flux.size} native pixels good")
    # Bridge masked native pixels so they do not leak into the resampled flux.
    wave = spectrum.wavelength
    f = flux.astype(np.float64)
    sigma = np.zeros_like(f)
    sigma[good] = 1.0 / np.sqrt(ivar[good])
    if n_good < f.size:
        f[bad] = np.interp(wave[bad], wave[good], f[good])
    new_wave = _grid_wavelength(grid)
    new_f, new_s = resample_flux(new_wave, wave, f, sigma)
    frac_bad = masked_fraction(new_wave, wave, bad) if n_good < f.size else np.zeros_like(new_f)
    outside = ~np.isfinite(new_f)
    if outside.all():
        raise Rejected(f"no_coverage: {wave[0]:.0f}-{wave[-1]:.0f} A misses the grid "
                       f"{grid.start:.0f}-{grid.stop:.0f} A")
    mask = outside | (frac_bad > settings.mask_threshold)
    keep = ~mask
    n_keep = int(keep.sum())
    if n_keep < max(2, settings.min_good_fraction * grid.n_pixels):
        raise Rejected(f"all_masked: {n_keep} of {grid.n_pixels} grid pixels good")
    # sigma from the good native pixels alone: SpectRes divides by the full weight.
    new_ivar = np.zeros_like(new_f)
    s_good = new_s[keep] / (1.0 - frac_bad[keep])
    with np.errstate(divide="ignore"):
        new_ivar[keep] = np.where(s_good > 0, 1.0 / s_good**2, 0.0)
    norm = 1.0
    if settings.normalise != "none":
        sel = keep
        if settings.normalise == "window":
            lo, hi = np.searchsorted(new_wave, settings.window)
            sel = np.zeros_like(keep)
            sel[lo:hi] = keep[lo:hi]
        norm = float(np.median(new_f[sel])) if sel.any() else np.nan
        if not (np.isfinite(norm) and norm > 0):
            raise Rejected(f"bad_normalisation: {settings.normalise} flux {norm:.4g} "
                           f"(needs > 0)")
    out = new_f / norm
    new_ivar *= norm * norm
    if n_keep < grid.n_pixels:
        if settings.fill == "linear":
            out[mask] = np.interp(new_wave[mask], new_wave[keep], out[keep])
        elif settings.fill == "median":
            out[mask] = np.median(out[keep])
        else:
            out[mask] = 0.0
    return out.astype(np.float32), new_ivar.astype(np.float32), mask
