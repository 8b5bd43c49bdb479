"""GalSim rendering of sky cutouts: Sersic galaxies and Moffat point sources.

Every source is drawn on its own postage stamp and added into the field, band by band,
with the band's PSF. The Moffat is the *effective* PSF (atmosphere, optics and pixel
response together), so profiles are sampled at pixel centres (GalSim's ``no_pixel``)
instead of being convolved with the pixel a second time.

Speed: a galaxy's (sheared, truncated) Sersic profile is transformed once with GalSim
(``drawKImage``), multiplied by each band's cached Moffat transform and a phase ramp for
the sub-pixel centre, and brought back with one real inverse FFT per band. Point
sources are analytic Moffats drawn in real space. Sersic indices come folded onto a
small grid (``population.SERSIC_GRID``) so GalSim's per-index Hankel tables are built
once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import galsim
import numpy as np
from scipy.fft import irfft2, next_fast_len

from galstar.simulate.photometry import FWHM_PER_SIGMA, moffat_alpha


@dataclass(frozen=True)
class RenderSettings:
    """How sources are drawn.

    Attributes
    ----------
    psf_beta : float
        Moffat beta of the effective PSF.
    sersic_trunc : float
        Sersic profiles are truncated at this many half-light radii (flux is the total
        inside the truncation, so catalogue flux = rendered flux).
    star_stamp_max_px : int
        Largest half-size of a point-source stamp (bright-star wings).
    galaxy_stamp_max_px : int
        Largest half-size of a galaxy stamp (only the biggest nearby galaxies hit it).
    skip_peak_fraction : float
        Sources whose peak pixel is below this fraction of the band's noise sigma in
        every band are not drawn: they contribute nothing measurable.
    folding_threshold, maxk_threshold : float
        GalSim accuracy settings (coarser than the defaults: ~0.1% flux errors, several
        times faster).
    """

    psf_beta: float = 3.5
    sersic_trunc: float = 5.0
    star_stamp_max_px: int = 256
    galaxy_stamp_max_px: int = 320
    skip_peak_fraction: float = 0.01
    folding_threshold: float = 1e-2
    maxk_threshold: float = 2e-3

    def gsparams(self) -> galsim.GSParams:
        return galsim.GSParams(
            folding_threshold=self.folding_threshold, maxk_threshold=self.maxk_threshold
        )


@dataclass
class Stamps:
    """Sources of one scene in pixel coordinates of the cutout (FITS, 1-based)."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray  # (n, nband) nmgy
    r_e_arcsec: np.ndarray  # circularised half-light radius (0 for point sources)
    sersic_n: np.ndarray
    axis_ratio: np.ndarray
    beta_img_deg: np.ndarray  # major-axis angle, counter-clockwise from +x
    is_point: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, keep: np.ndarray) -> Stamps:
        """The sources selected by a boolean mask or index array."""
        return Stamps(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def _peak_pixel(stamps: Stamps, fwhm: float, pixscale: float, beta: float) -> np.ndarray:
    """Rough peak pixel value per unit flux [1/pixel], for skipping negligible sources."""
    alpha = float(moffat_alpha(fwhm, beta))
    point_peak = (beta - 1.0) / (np.pi * alpha**2) * pixscale**2
    sig2 = (fwhm / FWHM_PER_SIGMA) ** 2 + (stamps.r_e_arcsec / 1.18) ** 2
    gal_peak = pixscale**2 / (2.0 * np.pi * sig2)
    return np.where(stamps.is_point, point_peak, np.minimum(gal_peak, point_peak))


def stamp_half_sizes(
    stamps: Stamps, peak: np.ndarray, fwhm: np.ndarray, sigma: np.ndarray, pixscale: float,
    settings: RenderSettings,
) -> np.ndarray:
    """Half-size [px] of each source's stamp.

    Point sources reach out to where the Moffat wings fall to 0.1% of the noise in the
    worst band; galaxies to the Sersic truncation radius (major axis) plus 2.5 PSF FWHM.
    """
    beta = settings.psf_beta
    alpha_px = float(np.max(moffat_alpha(np.asarray(fwhm), beta))) / pixscale
    ratio = np.max(peak / (1e-3 * sigma[None, :]), axis=1)
    half_point = np.ceil(alpha_px * np.sqrt(np.maximum(ratio, 1.0) ** (1.0 / beta)))
    half_point = np.clip(half_point, 8, settings.star_stamp_max_px)
    q = np.clip(stamps.axis_ratio, 0.05, 1.0)
    half_gal = np.ceil(settings.sersic_trunc * stamps.r_e_arcsec / np.sqrt(q) / pixscale
                       + 2.5 * float(np.max(fwhm)) / pixscale)
    half_gal = np.clip(half_gal, 8, settings.galaxy_stamp_max_px)
    return np.where(stamps.is_point, half_point, half_gal).astype(np.int64)


def render_scene(
    stamps: Stamps,
    size: int,
    pixscale: float,
    fwhm: np.ndarray,
    sigma: np.ndarray,
    settings: RenderSettings = RenderSettings(),
) -> np.ndarray:
    """Noiseless image of the scene, one plane per band.

    Parameters
    ----------
    stamps : Stamps
        Sources, positions in the cutout's 1-based pixel frame.
    size : int
        Cutout side [pixels].
    pixscale : float
        Pixel scale [arcsec/pixel].
    fwhm : (nband,) array
        Effective PSF FWHM per band [arcsec].
    sigma : (nband,) array
        Noise sigma per band [nmgy/pixel] (only to decide what is negligible).
    settings : RenderSettings
        Drawing choices.

    Returns
    -------
    numpy.ndarray
        (nband, size, size) float64 [nmgy/pixel], row = y - 1, column = x - 1.
    """
    nband = len(fwhm)
    out = np.zeros((nband, size, size), dtype=np.float64)
    if len(stamps) == 0:
        return out
    gsp = settings.gsparams()
    sigma = np.asarray(sigma, dtype=float)
    peak = np.stack(
        [stamps.flux[:, b] * _peak_pixel(stamps, float(fwhm[b]), pixscale, settings.psf_beta)
         for b in range(nband)], axis=1,
    )
    visible = (peak >= settings.skip_peak_fraction * sigma[None, :]).any(axis=1)
    half = stamp_half_sizes(stamps, peak, np.asarray(fwhm), sigma, pixscale, settings)
    ix = np.rint(stamps.x).astype(np.int64)
    iy = np.rint(stamps.y).astype(np.int64)
    touches = (ix + half >= 1) & (ix - half <= size) & (iy + half >= 1) & (iy - half <= size)
    full_bounds = galsim.BoundsI(1, size, 1, size)
    images = [galsim.ImageD(out[b], xmin=1, ymin=1, scale=pixscale) for b in range(nband)]
    psfs = [galsim.Moffat(beta=settings.psf_beta, fwhm=float(f), gsparams=gsp) for f in fwhm]
    q = np.clip(stamps.axis_ratio, 0.05, 1.0)
    for i in np.flatnonzero(visible & touches):
        center = galsim.PositionD(float(stamps.x[i]), float(stamps.y[i]))
        h = int(half[i])
        stamp_bounds = galsim.BoundsI(int(ix[i]) - h, int(ix[i]) + h, int(iy[i]) - h,
                                      int(iy[i]) + h)
        overlap = stamp_bounds & full_bounds
        if stamps.is_point[i]:
            for b in range(nband):
                # analytic Moffat, evaluated in real space straight into the cutout
                psfs[b].withFlux(float(stamps.flux[i, b])).drawImage(
                    image=images[b][overlap], center=center, method="no_pixel",
                    add_to_image=True,
                )
            continue
        n_fft = _fft_size(2 * h + 2)
        # stamp pixel (0, 0) is cutout pixel (x0, y0); source at (cx, cy) in the stamp
        x0, y0 = int(ix[i]) - n_fft // 2, int(iy[i]) - n_fft // 2
        c0, c1 = max(x0, 1), min(x0 + n_fft - 1, size)
        r0, r1 = max(y0, 1), min(y0 + n_fft - 1, size)
        if c0 > c1 or r0 > r1:
            continue
        kgal = _sersic_kimage(
            float(stamps.sersic_n[i]), float(stamps.r_e_arcsec[i]), float(q[i]),
            float(stamps.beta_img_deg[i]), n_fft, pixscale, float(stamps.x[i]) - x0,
            float(stamps.y[i]) - y0, settings,
        )
        for b in range(nband):
            kpsf = _moffat_kimage(float(fwhm[b]), settings.psf_beta, n_fft, pixscale,
                                  settings.folding_threshold, settings.maxk_threshold)
            stamp = irfft2(kgal * kpsf, s=(n_fft, n_fft))
            out[b, r0 - 1:r1, c0 - 1:c1] += float(stamps.flux[i, b]) * stamp[
                r0 - y0:r1 - y0 + 1, c0 - x0:c1 - x0 + 1]
    return out


#: FFT sizes stamps are rounded up to (few sizes: the PSF transforms are cached per size).
_FFT_SIZES = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768)


def _fft_size(n: int) -> int:
    for size in _FFT_SIZES:
        if size >= n:
            return size
    return int(next_fast_len(n + n % 2))


_KAPPA_STEP = 0.04  # table step in k * r_e
_KAPPA_MAX = 2000.0


@lru_cache(maxsize=64)
def _sersic_ktable(n: float, trunc: float, folding_threshold: float,
                   maxk_threshold: float) -> np.ndarray:
    """Radial transform of a unit-flux, unit-half-light-radius truncated Sersic,
    sampled at ``kappa = k r_e`` = 0, 0.04, ... (GalSim's Hankel transform, cached)."""
    gsp = galsim.GSParams(folding_threshold=folding_threshold, maxk_threshold=maxk_threshold)
    prof = galsim.Sersic(n=n, half_light_radius=1.0, trunc=trunc, flux_untruncated=False,
                         gsparams=gsp)
    m = int(_KAPPA_MAX / _KAPPA_STEP)
    row = prof.drawKImage(nx=2 * m, ny=2, scale=_KAPPA_STEP).array[1, m:]
    return np.ascontiguousarray(row.real)


def _sersic_kimage(n: float, r_e: float, q: float, beta_deg: float, n_fft: int,
                   pixscale: float, cx: float, cy: float,
                   settings: RenderSettings) -> np.ndarray:
    """Half-plane transform (FFT order) of a unit-flux sheared Sersic centred at the
    stamp pixel coordinates (cx, cy) (0-based) on an ``n_fft`` grid.

    A shear with axis ratio q along angle beta maps k to
    ``kappa = r_e sqrt(k_par^2 / q + k_perp^2 q)`` of the circular profile.
    """
    table = _sersic_ktable(n, settings.sersic_trunc, settings.folding_threshold,
                           settings.maxk_threshold)
    dk = 2.0 * np.pi / (n_fft * pixscale)
    lx = np.arange(n_fft // 2 + 1, dtype=float)
    ly = np.fft.fftfreq(n_fft, 1.0 / n_fft)
    c, s = np.cos(np.radians(beta_deg)), np.sin(np.radians(beta_deg))
    kpar = dk * (lx[None, :] * c + ly[:, None] * s)
    kperp = dk * (ly[:, None] * c - lx[None, :] * s)
    kappa = r_e * np.sqrt(kpar**2 / q + kperp**2 * q)
    values = np.interp(kappa / _KAPPA_STEP, np.arange(table.size), table, right=0.0)
    # sub-pixel centre: a separable phase ramp
    phase_y = np.exp(-2j * np.pi * ly * cy / n_fft)
    phase_x = np.exp(-2j * np.pi * lx * cx / n_fft)
    return values * phase_y[:, None] * phase_x[None, :]


@lru_cache(maxsize=2048)
def _moffat_kimage(fwhm: float, beta: float, n_fft: int, pixscale: float,
                   folding_threshold: float, maxk_threshold: float) -> np.ndarray:
    """Half-plane transform (FFT order) of a unit-flux Moffat on an ``n_fft`` grid.

    Real (the profile is centred and symmetric) and float32: the cache holds one entry
    per PSF (brick and band) and stamp size, ~100 kB each at the common sizes.
    """
    gsp = galsim.GSParams(folding_threshold=folding_threshold, maxk_threshold=maxk_threshold)
    psf = galsim.Moffat(beta=beta, fwhm=fwhm, gsparams=gsp)
    dk = 2.0 * np.pi / (n_fft * pixscale)
    k = np.fft.ifftshift(psf.drawKImage(nx=n_fft, ny=n_fft, scale=dk).array)
    return np.ascontiguousarray(k[:, : n_fft // 2 + 1].real, dtype=np.float32)
