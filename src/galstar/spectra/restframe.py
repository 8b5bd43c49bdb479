"""SDSS spectra in the rest frame on a fixed log-lambda grid, gaps filled by iterative PCA
(the spectrum VAE's inputs; Wu & Peek 2020 after Portillo et al. 2020).

Per spectrum (:func:`to_restframe`): pixels are masked where ``ivar == 0``, values are
not finite or chosen SPPIXMASK bits of ``and_mask`` are set; masked native pixels are
bridged by linear interpolation so they cannot leak; the wavelengths are divided by
``1 + z`` and flux and error are resampled flux-conservingly (SpectRes, errors in
quadrature) onto ``n_pixels`` pixel centres evenly spaced in log10(lambda / A) from
``loglam_start`` to ``loglam_stop`` (3.53-3.92: 3388-8318 A). A grid pixel is masked
when it lies outside the observed range or more than ``mask_threshold`` of its width
falls on masked native pixels. The spectrum is divided by its norm over the good pixels
(``normalise: rms``: sqrt(mean(flux**2)), the L2 norm per pixel, so that a flat spectrum
is 1; ``median``: the median flux) and ``ivar`` multiplied by the norm squared. Only
``z < z_max`` (0.36) is kept: beyond it H-alpha leaves the SDSS range.

Gap filling (:class:`GapFiller`): the masked pixels of every spectrum are replaced by
their reconstruction from the leading ``n_components`` principal components: starting
from the mean spectrum, the components are fitted on the training split only (with
every masked pixel filled by the current reconstruction), each spectrum's coefficients
are refitted by least squares on its good pixels alone (ridge ``ridge``), the masked
pixels refilled, ``n_iter`` times (Portillo et al. 2020, section 2.1). Good pixels are
never changed; the weight of a filled pixel is 0.

Reason codes (:class:`~galstar.spectra.errors.Rejected`): ``z_out_of_range`` (z <= 0 or
z >= z_max), ``bad_redshift`` (ZWARNING set), ``nonfinite_flux``, ``bad_wavelength``,
``low_coverage`` (fewer than ``min_good_fraction`` of the grid pixels good),
``bad_normalisation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from galstar.options import check_option_names
from galstar.spectra.errors import Rejected
from galstar.spectra.resample import masked_fraction, resample_flux
from galstar.spectra.sdss import Spectrum
from galstar.spectra.sdss_grid import DEFAULT_BAD_BITS, bad_bits_value

__all__ = ["RestframeSettings", "restframe_loglam", "to_restframe", "model_to_restframe",
           "GapFiller", "grid_description"]


@dataclass(frozen=True)
class RestframeSettings:
    """Config ``spectra_from_images.data.restframe``.

    Attributes
    ----------
    loglam_start, loglam_stop : float
        First and last pixel centre, log10(rest wavelength / A) (3.53, 3.92).
    n_pixels : int
        Grid pixels (1000, the VAE's input length).
    z_max : float
        Spectra with z >= z_max are rejected (0.36: H-alpha at 8928 A observed).
    normalise : {"rms", "median"}
        The norm each spectrum is divided by, over its good grid pixels.
    mask_threshold : float
        A grid pixel is masked when more of its width than this is on masked pixels.
    min_good_fraction : float
        Fewer good grid pixels than this fraction: rejected ``low_coverage``.
    n_components : int
        Principal components that reconstruct the masked pixels.
    n_iter : int
        Fit-and-refill iterations of the gap filling.
    ridge : float
        Ridge term of each spectrum's least-squares coefficients (normalised flux units).
    max_fit_spectra : int
        At most this many training spectra fit the components (a random subset).
    bad_bits : tuple of str
        and_mask bits that mask a pixel (:data:`~galstar.spectra.sdss_grid.DEFAULT_BAD_BITS`).
    """

    loglam_start: float = 3.53
    loglam_stop: float = 3.92
    n_pixels: int = 1000
    z_max: float = 0.36
    normalise: str = "rms"
    mask_threshold: float = 0.5
    min_good_fraction: float = 0.5
    n_components: int = 10
    n_iter: int = 10
    ridge: float = 1e-3
    max_fit_spectra: int = 20000
    bad_bits: tuple[str, ...] = DEFAULT_BAD_BITS
    _bad: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self):
        key = "spectra_from_images.data.restframe"
        if not 0 < self.loglam_start < self.loglam_stop:
            raise ValueError(f"{key}: needs 0 < loglam_start < loglam_stop, got "
                             f"{self.loglam_start}, {self.loglam_stop}")
        if int(self.n_pixels) < 8:
            raise ValueError(f"{key}.n_pixels must be >= 8, got {self.n_pixels}")
        if self.normalise not in ("rms", "median"):
            raise ValueError(f"{key}.normalise must be rms or median, got {self.normalise!r}")
        if not 0 < self.z_max:
            raise ValueError(f"{key}.z_max must be > 0, got {self.z_max}")
        if not 1 <= int(self.n_components) < int(self.n_pixels):
            raise ValueError(f"{key}.n_components must be in [1, n_pixels), got "
                             f"{self.n_components}")
        object.__setattr__(self, "_bad", bad_bits_value(self.bad_bits))

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None,
                     key: str = "spectra_from_images.data.restframe") -> RestframeSettings:
        """Build from a config mapping (each key optional; an unknown key raises)."""
        config = dict(config or {})
        check_option_names(config, cls, key)
        if "bad_bits" in config:
            config["bad_bits"] = tuple(config["bad_bits"])
        return cls(**config)


def restframe_loglam(settings: RestframeSettings) -> np.ndarray:
    """Pixel centres, log10(rest wavelength / A), float64."""
    return np.linspace(settings.loglam_start, settings.loglam_stop, int(settings.n_pixels))


def _norm(flux: np.ndarray, good: np.ndarray, how: str) -> float:
    if how == "rms":
        return float(np.sqrt(np.mean(flux[good] ** 2)))
    return float(np.median(flux[good]))


def to_restframe(spectrum: Spectrum, settings: RestframeSettings, z: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One spectrum on the rest-frame grid, normalised, masked pixels not yet filled.

    Parameters
    ----------
    spectrum : Spectrum
        :func:`galstar.spectra.sdss.read_spectrum`.
    settings : RestframeSettings
    z : float, optional
        Redshift to shift by (default the file's ``Z``).

    Returns
    -------
    flux : (n_pixels,) float32
        Normalised flux; masked pixels 0 (to be filled by :class:`GapFiller`).
    ivar : (n_pixels,) float32
        Inverse variance of ``flux`` (0 on masked pixels).
    mask : (n_pixels,) bool
        True where masked.
    norm : float
        The norm divided out [1e-17 erg/s/cm2/A, rest-frame flux density x (1 + z)].

    Raises
    ------
    Rejected
        With the reason codes of the module docstring.
    """
    z = float(spectrum.z if z is None else z)
    if not (np.isfinite(z) and 0.0 < z < settings.z_max):
        raise Rejected(f"z_out_of_range: z = {z:.4f} (kept 0 < z < {settings.z_max})")
    if int(spectrum.zwarning) != 0:
        raise Rejected(f"bad_redshift: ZWARNING = {int(spectrum.zwarning)}")
    flux, ivar = spectrum.flux, spectrum.ivar
    nonfinite = ~(np.isfinite(flux) & np.isfinite(ivar))
    if nonfinite.any():
        raise Rejected(f"nonfinite_flux: {int(nonfinite.sum())} of {flux.size} pixels")
    if flux.size < 2 or not np.all(np.diff(spectrum.loglam) > 0):
        raise Rejected("bad_wavelength: loglam is not strictly increasing")
    bad = (ivar <= 0) | ((spectrum.and_mask & settings._bad) != 0)
    good = ~bad
    n = int(settings.n_pixels)
    if int(good.sum()) < 2:
        raise Rejected(f"low_coverage: {int(good.sum())} of {flux.size} native pixels good")
    wave = spectrum.wavelength / (1.0 + z)
    f = flux.astype(np.float64)
    sigma = np.zeros_like(f)
    sigma[good] = 1.0 / np.sqrt(ivar[good])
    if bad.any():
        f[bad] = np.interp(wave[bad], wave[good], f[good])
    new_wave = 10.0 ** restframe_loglam(settings)
    new_f, new_s = resample_flux(new_wave, wave, f, sigma)
    frac_bad = masked_fraction(new_wave, wave, bad) if bad.any() else np.zeros(n)
    mask = ~np.isfinite(new_f) | (frac_bad > settings.mask_threshold)
    keep = ~mask
    if int(keep.sum()) < max(2, settings.min_good_fraction * n):
        raise Rejected(f"low_coverage: {int(keep.sum())} of {n} rest-frame pixels good "
                       f"at z = {z:.4f}")
    norm = _norm(new_f, keep, settings.normalise)
    if not (np.isfinite(norm) and norm > 0):
        raise Rejected(f"bad_normalisation: {settings.normalise} flux {norm:.4g} (needs > 0)")
    out = np.where(keep, new_f / norm, 0.0)
    out_ivar = np.zeros(n)
    s_good = new_s[keep] / (1.0 - frac_bad[keep])
    with np.errstate(divide="ignore"):
        out_ivar[keep] = np.where(s_good > 0, norm * norm / s_good**2, 0.0)
    return out.astype(np.float32), out_ivar.astype(np.float32), mask, norm


def model_to_restframe(loglam: np.ndarray, model: np.ndarray, z: float, norm: float,
                       settings: RestframeSettings) -> np.ndarray:
    """A noiseless observed-frame spectrum on the rest-frame grid, divided by ``norm``
    (the observed spectrum's, so truth and data share one scale); NaN where the grid
    leaves its wavelength range."""
    wave = 10.0 ** np.asarray(loglam, np.float64) / (1.0 + float(z))
    new = resample_flux(10.0 ** restframe_loglam(settings), wave,
                        np.asarray(model, np.float64))
    return (new / norm).astype(np.float32)


class GapFiller:
    """Iterative-PCA reconstruction of masked pixels (module docstring).

    Parameters
    ----------
    n_components, n_iter, ridge
        :class:`RestframeSettings` fields.

    Attributes
    ----------
    mean : (n_pixels,) array
        Mean filled training spectrum.
    components : (n_components, n_pixels) array
        Orthonormal principal components (rows).
    """

    def __init__(self, n_components: int = 10, n_iter: int = 10, ridge: float = 1e-3):
        self.n_components = int(n_components)
        self.n_iter = int(n_iter)
        self.ridge = float(ridge)
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None

    def _reconstruct(self, flux: np.ndarray, good: np.ndarray) -> np.ndarray:
        """Least-squares reconstruction of each row from its good pixels (batched)."""
        v = self.components  # (k, p)
        w = good.astype(np.float64)
        out = np.empty(flux.shape, dtype=np.float64)
        eye = self.ridge * np.eye(v.shape[0])
        for lo in range(0, flux.shape[0], 1024):
            sl = slice(lo, lo + 1024)
            resid = w[sl] * (flux[sl] - self.mean)
            gram = np.einsum("kp,np,lp->nkl", v, w[sl], v, optimize=True) + eye
            coef = np.linalg.solve(gram, (resid @ v.T)[..., None])[..., 0]
            out[sl] = self.mean + coef @ v
        return out

    def fill(self, flux: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``flux`` with its masked pixels replaced by the reconstruction (good pixels
        unchanged); float32."""
        if self.components is None:
            raise RuntimeError("GapFiller.fill before fit")
        flux = np.asarray(flux, np.float64)
        mask = np.asarray(mask, bool)
        out = flux.copy()
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size:
            recon = self._reconstruct(flux[rows], ~mask[rows])
            out[rows] = np.where(mask[rows], recon, flux[rows])
        return out.astype(np.float32)

    def fit(self, flux: np.ndarray, mask: np.ndarray) -> GapFiller:
        """Fit mean and components on ``flux`` (the training split), filling its gaps
        with the current reconstruction at every iteration."""
        flux = np.asarray(flux, np.float64)
        mask = np.asarray(mask, bool)
        if flux.shape[0] <= self.n_components:
            raise ValueError(f"gap filling needs more than n_components = "
                             f"{self.n_components} training spectra, got {flux.shape[0]}")
        good = ~mask
        counts = good.sum(axis=0)
        mean = np.where(counts > 0, np.where(good, flux, 0.0).sum(0) / np.maximum(counts, 1),
                        np.nan)
        if np.isnan(mean).any():  # a pixel no training spectrum covers: interpolate
            ok = ~np.isnan(mean)
            mean = np.interp(np.arange(mean.size), np.flatnonzero(ok), mean[ok])
        filled = np.where(good, flux, mean)
        for _ in range(max(1, self.n_iter)):
            self.mean = filled.mean(axis=0)
            _, _, vt = np.linalg.svd(filled - self.mean, full_matrices=False)
            self.components = vt[: self.n_components]
            filled = np.where(good, flux, self._reconstruct(flux, good))
        self.mean = filled.mean(axis=0)
        _, _, vt = np.linalg.svd(filled - self.mean, full_matrices=False)
        self.components = vt[: self.n_components]
        return self

    def save(self, path) -> None:
        """Write mean and components (``.npz``, atomically)."""
        from galstar.io import atomic_path

        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, mean=self.mean, components=self.components,
                     n_iter=self.n_iter, ridge=self.ridge)

    @classmethod
    def load(cls, path) -> GapFiller:
        """Read what :meth:`save` wrote."""
        with np.load(path) as data:
            out = cls(data["components"].shape[0], int(data["n_iter"]), float(data["ridge"]))
            out.mean, out.components = data["mean"], data["components"]
        return out


def grid_description(settings: RestframeSettings, **extra: Any) -> dict[str, Any]:
    """The grid's JSON (``paths.SFI_GRID``): pixel i is at rest-frame vacuum wavelength
    ``10 ** (loglam_start + i * loglam_step)`` A."""
    s = asdict(settings)
    s.pop("_bad", None)
    n = int(settings.n_pixels)
    return {"loglam_start": float(settings.loglam_start),
            "loglam_stop": float(settings.loglam_stop), "n_pixels": n,
            "loglam_step": (settings.loglam_stop - settings.loglam_start) / (n - 1),
            "start_angstrom": float(10 ** settings.loglam_start),
            "stop_angstrom": float(10 ** settings.loglam_stop), "frame": "rest",
            "medium": "vacuum", "channels": ["flux", "weight"],
            "normalise": settings.normalise,
            "normalisation": ("flux / sqrt(mean(flux**2)) over the good pixels"
                              if settings.normalise == "rms"
                              else "flux / median(flux) over the good pixels"),
            "weight": "inverse variance of the normalised flux; 0 where the pixel was "
                      "filled by the PCA gap filling",
            "gap_filling": {"method": "iterative PCA (Portillo et al. 2020)",
                            "n_components": int(settings.n_components),
                            "n_iter": int(settings.n_iter), "fitted_on": "train"},
            "z_max": float(settings.z_max), "settings": s, **extra}
