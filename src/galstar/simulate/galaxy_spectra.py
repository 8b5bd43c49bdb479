"""SDSS-like optical galaxy spectra from the simulated galaxies' physical truth.

A spectrum is an old and a young stellar continuum mixed by the fibre sSFR (so the
4000 A break falls as sSFR rises), attenuated by dust (Calzetti et al. 2000; the
nebular lines see E(B-V)_gas = E(B-V)_star / 0.44), plus emission lines whose
H-alpha flux is the fibre SFR (Kennicutt & Evans 2012) and whose ratios follow the
metallicity (Pettini & Pagel 2004 N2 and O3N2), redshifted onto the SDSS log-lambda
grid (1e-4 dex, ~3800-9200 A, vacuum). Noise follows the catalogued median r-band S/N
with a sky spectrum (the 5577 A line, Na D, [O I], the OH forest), sky-subtraction
residuals, masked pixel runs (``and_mask`` bits of SDSS ``SPPIXMASK``) and the
occasional bad spectrum. The continuum is :mod:`galstar.simulate.galaxy_continuum`'s.
Physics only: :mod:`galstar.mock.sdss_spectra` writes files.

Units: wavelengths in A (vacuum), flux densities in 1e-17 erg/s/cm^2/A (SDSS ``BUNIT``),
line fluxes in 1e-17 erg/s/cm^2, SFR in log10 Msun/yr.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import constants as const
from astropy import units as u

from galstar.simulate.galaxy_continuum import (
    LOGLAM_STEP,
    StellarPopulations,
    calzetti_k,
    d4000_of_mix,
    stellar_continuum,
)
from galstar.simulate.population import luminosity_distance_mpc

__all__ = ["LOGLAM_STEP", "LOGLAM_START", "N_PIXELS", "SPPIXMASK", "EMISSION_LINES",
           "SpectrumModel", "SimulatedSpectra", "sdss_loglam",
           "metallicity_oh", "emission_line_fluxes", "sky_spectrum", "simulate_spectra",
           "noiseless_spectra"]

#: log10 of the first pixel's wavelength [A] of the default grid (legacy spectra start
#: near 3800 A; the fixture spec-0266-51602-0013 starts at 3.5802).
LOGLAM_START = 3.5797
#: Pixels of the default grid (to 9197 A).
N_PIXELS = 3840

#: SDSS ``SPPIXMASK`` bits used here (idlutils sdssMaskbits.par).
SPPIXMASK: dict[str, int] = {
    "NEARBADPIXEL": 16, "LOWFLAT": 17, "FULLREJECT": 18, "PARTIALREJECT": 19,
    "SCATTEREDLIGHT": 20, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24, "COMBINEREJ": 25,
    "BADSKYCHI": 27,
}

#: Emission lines simulated: name -> vacuum rest wavelength [A] (the SPZLINE values).
EMISSION_LINES: dict[str, float] = {
    "[O_II] 3725": 3727.0917, "[O_II] 3727": 3729.8754, "H_beta": 4862.6830,
    "[O_III] 4959": 4960.2949, "[O_III] 5007": 5008.2396, "[N_II] 6548": 6549.8589,
    "H_alpha": 6564.6139, "[N_II] 6583": 6585.2684, "[S_II] 6716": 6718.2942,
    "[S_II] 6730": 6732.6781,
}

#: Sky emission lines: vacuum wavelength [A] and peak brightness over the sky continuum.
_SKY_LINES = np.array([
    (5578.89, 40.0), (5891.58, 8.0), (5897.56, 8.0), (6302.05, 12.0), (6365.54, 5.0),
])

_C_KMS = const.c.to_value(u.km / u.s)
_KPC_CM = (1.0 * u.Mpc).to_value(u.cm)


@dataclass(frozen=True)
class SpectrumModel:
    """Parameters of the spectrum simulator (SDSS-like defaults).

    Attributes
    ----------
    t_old_k, t_young_k : float
        Blackbody temperatures [K] of the old and young continua.
    break_old, break_young : float
        Fractional flux deficit blueward of 4000 A of each population (sets D4000n ~1.9
        old, ~1.1 young).
    young_ssfr_mid, young_ssfr_width : float
        The young population's share of the light at 5500 A is a logistic function of
        the fibre log sSFR [1/yr] with this midpoint and width.
    oh_scatter : float
        Scatter [dex] of 12 + log(O/H) around the Tremonti et al. (2004) relation.
    instrument_sigma_kms : float
        Spectrograph resolution (SDSS: R ~ 1800-2200, ~69 km/s per pixel).
    sky_continuum : float
        Sky continuum at 5500 A [1e-17 erg/s/cm^2/A per fibre]; rises to the red.
    sky_residual_fraction : float
        Sky-subtraction residual, as a fraction of the sky, left in the flux.
    masked_runs_mean : float
        Mean number of rejected pixel runs per spectrum (ivar = 0, FULLREJECT).
    bad_spectrum_fraction : float
        Spectra with a dead fibre or a missing camera (ivar = 0 over half or all).
    """

    t_old_k: float = 4600.0
    t_young_k: float = 11000.0
    break_old: float = 0.45
    break_young: float = 0.08
    young_ssfr_mid: float = -10.6
    young_ssfr_width: float = 0.35
    oh_scatter: float = 0.08
    instrument_sigma_kms: float = 69.0
    sky_continuum: float = 4.0
    sky_residual_fraction: float = 0.04
    masked_runs_mean: float = 1.5
    bad_spectrum_fraction: float = 0.005

    @property
    def populations(self) -> StellarPopulations:
        """The continuum's two populations (:mod:`galstar.simulate.galaxy_continuum`)."""
        return StellarPopulations(self.t_old_k, self.t_young_k, self.break_old,
                                  self.break_young)


@dataclass
class SimulatedSpectra:
    """A batch of spectra on one grid; arrays are (n, n_pixels) float32 / int32.

    ``flux``, ``ivar``, ``model`` (noiseless), ``sky`` [1e-17 erg/s/cm^2/A], ``wdisp``
    (dispersion sigma [pixels]), ``and_mask``, ``or_mask``; per spectrum ``d4000``
    (of the noiseless model, rest frame), ``line_flux`` (name -> observed, attenuated
    flux [1e-17 erg/s/cm^2]), ``line_snr`` (name -> S/N of the line in the noisy
    spectrum; 0 outside the grid), ``line_cont`` (name -> stellar continuum at the line
    [1e-17 erg/s/cm^2/A]; 0 outside the grid), ``oh`` (12 + log O/H), ``bad``
    ('' | 'dead_fibre' | 'missing_blue' | 'missing_red') and ``loglam`` (n_pixels,).
    """

    loglam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    model: np.ndarray
    sky: np.ndarray
    wdisp: np.ndarray
    and_mask: np.ndarray
    or_mask: np.ndarray
    d4000: np.ndarray
    line_flux: dict[str, np.ndarray]
    line_snr: dict[str, np.ndarray]
    line_cont: dict[str, np.ndarray]
    oh: np.ndarray
    bad: np.ndarray


def sdss_loglam(start: float = LOGLAM_START, n: int = N_PIXELS) -> np.ndarray:
    """The SDSS log10-wavelength grid [log10 A]: ``start + 1e-4 * arange(n)``."""
    return np.round(start + LOGLAM_STEP * np.arange(int(n)), 6)


def metallicity_oh(logm: np.ndarray, rng: np.random.Generator | None = None,
                   scatter: float = 0.0) -> np.ndarray:
    """12 + log(O/H) from stellar mass (Tremonti et al. 2004), with Gaussian scatter."""
    x = np.clip(np.asarray(logm, dtype=float), 8.5, 11.5)
    oh = -1.492 + 1.847 * x - 0.08026 * x**2
    if rng is not None and scatter > 0:
        oh = oh + rng.normal(0.0, scatter, x.shape)
    return oh


def emission_line_fluxes(z: np.ndarray, log_sfr: np.ndarray, dust_av: np.ndarray,
                         oh: np.ndarray) -> dict[str, np.ndarray]:
    """Observed (attenuated) emission-line fluxes [1e-17 erg/s/cm^2].

    Parameters
    ----------
    z : array
        Redshift.
    log_sfr : array
        log10 SFR [Msun/yr] inside the fibre.
    dust_av : array
        Stellar V-band attenuation [mag]; lines get E(B-V)_gas = A_V / 4.05 / 0.44.
    oh : array
        12 + log(O/H).

    Notes
    -----
    L(H-alpha) = SFR / 10^-41.27 erg/s (Kennicutt & Evans 2012, Kroupa IMF); Case B
    H-alpha/H-beta = 2.86; N2 = log([N II] 6584 / H-alpha) = (O/H - 8.90) / 0.57 and
    O3N2 = (8.73 - O/H) / 0.32 (Pettini & Pagel 2004); [O II]/H-beta falling with
    metallicity; [S II] 6717+6731 = 0.3 H-alpha with 6717/6731 = 1.4 (low density);
    [N II] 6548 = 6584 / 3.05, [O III] 4959 = 5007 / 2.98; [O II] 3726/3729 = 1/1.3.
    """
    z = np.asarray(z, dtype=float)
    dl_cm = luminosity_distance_mpc(np.maximum(z, 1e-4)) * _KPC_CM
    ha = 10.0 ** (np.asarray(log_sfr, dtype=float) + 41.27) / (4.0 * np.pi * dl_cm**2) / 1e-17
    n2 = np.clip((oh - 8.90) / 0.57, -2.5, 0.0)
    o3n2 = (8.73 - oh) / 0.32
    hb = ha / 2.86
    nii = ha * 10.0**n2
    oiii = hb * 10.0 ** np.clip(o3n2 + n2, -1.5, 1.0)
    oii = hb * 10.0 ** np.clip(0.45 - 0.9 * (oh - 8.6), -0.5, 0.8)
    sii = 0.3 * ha
    intrinsic = {
        "[O_II] 3725": oii / 2.3, "[O_II] 3727": oii * 1.3 / 2.3, "H_beta": hb,
        "[O_III] 4959": oiii / 2.98, "[O_III] 5007": oiii, "[N_II] 6548": nii / 3.05,
        "H_alpha": ha, "[N_II] 6583": nii, "[S_II] 6716": sii * 1.4 / 2.4,
        "[S_II] 6730": sii / 2.4,
    }
    ebv_gas = np.asarray(dust_av, dtype=float) / 4.05 / 0.44
    return {name: f * 10.0 ** (-0.4 * calzetti_k(EMISSION_LINES[name]) * ebv_gas)
            for name, f in intrinsic.items()}


def sky_spectrum(loglam: np.ndarray, m: SpectrumModel = SpectrumModel()) -> np.ndarray:
    """Sky in one fibre [1e-17 erg/s/cm^2/A] on an observed grid: a continuum rising to
    the red, the 5577 A and other atomic lines, and an OH forest beyond 6800 A (a fixed
    pseudo-random line list, the same for every spectrum)."""
    wave = 10.0 ** np.asarray(loglam, dtype=float)
    sky = m.sky_continuum * (wave / 5500.0) ** 1.5
    oh_rng = np.random.default_rng(5577)
    oh_wave = np.sort(oh_rng.uniform(6800.0, 9300.0, 160))
    oh_amp = oh_rng.lognormal(np.log(6.0), 0.8, 160) * (1.0 + (oh_wave - 6800.0) / 1500.0)
    lines = np.concatenate([_SKY_LINES, np.stack([oh_wave, oh_amp], 1)])
    sigma_a = wave * LOGLAM_STEP * np.log(10.0)  # ~1 pixel
    for centre, amp in lines:
        near = np.abs(wave - centre) < 8.0 * sigma_a
        sky[near] += (amp * m.sky_continuum
                      * np.exp(-0.5 * ((wave[near] - centre) / sigma_a[near]) ** 2))
    return sky


def _add_gaussians(out: np.ndarray, loglam: np.ndarray, centre_obs: np.ndarray,
                   sigma_px: np.ndarray, area: np.ndarray) -> None:
    """Add Gaussian lines (one per row) of given area [flux x A] into ``out`` in place,
    evaluated only within 6 sigma of the centre."""
    n, npix = out.shape
    pix = (np.log10(centre_obs) - loglam[0]) / LOGLAM_STEP
    half = int(np.ceil(6.0 * np.max(sigma_px))) + 1
    offs = np.arange(-half, half + 1)
    idx = np.rint(pix)[:, None].astype(np.int64) + offs[None, :]
    ok = (idx >= 0) & (idx < npix)
    idx_c = np.clip(idx, 0, npix - 1)
    wave = 10.0 ** loglam[idx_c]
    dlam = wave * LOGLAM_STEP * np.log(10.0)  # pixel width [A]
    prof = np.exp(-0.5 * ((idx - pix[:, None]) / sigma_px[:, None]) ** 2)
    prof /= np.sqrt(2.0 * np.pi) * sigma_px[:, None]  # per pixel, sums to 1
    contrib = np.where(ok, area[:, None] * prof / dlam, 0.0)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    np.add.at(out, (rows[ok], idx_c[ok]), contrib[ok])


def simulate_spectra(
    z: np.ndarray,
    fibre_r_nmgy: np.ndarray,
    log_ssfr_fib: np.ndarray,
    lgm_fib: np.ndarray,
    logm: np.ndarray,
    dust_av: np.ndarray,
    v_disp_kms: np.ndarray,
    sn_median_r: np.ndarray,
    rng: np.random.Generator,
    m: SpectrumModel = SpectrumModel(),
    loglam: np.ndarray | None = None,
) -> SimulatedSpectra:
    """Simulate a batch of SDSS spectra (vectorised over galaxies).

    Parameters
    ----------
    z : array
        True redshift of each galaxy.
    fibre_r_nmgy : array
        Observed r-band flux inside the 3 arcsec fibre [nanomaggies]; sets the
        continuum level (mean f_lambda over 5600-6800 A observed).
    log_ssfr_fib, lgm_fib : array
        Fibre log sSFR [1/yr] and log M* [Msun]: the young fraction, SFR = sum.
    logm : array
        Total log M* [Msun] (metallicity).
    dust_av : array
        V-band attenuation [mag].
    v_disp_kms : array
        Stellar velocity dispersion [km/s] (broadens the emission lines too, floor
        40 km/s).
    sn_median_r : array
        Target median S/N per pixel over 5600-6800 A observed (galSpec ``sn_median_r``).
    rng : numpy.random.Generator
        Noise, metallicity scatter, masks and bad spectra.
    m : SpectrumModel
        Simulator parameters.
    loglam : array, optional
        Observed grid [log10 A]; default :func:`sdss_loglam`.

    Returns
    -------
    SimulatedSpectra
    """
    z = np.asarray(z, dtype=float)
    n = z.size
    loglam = sdss_loglam() if loglam is None else np.asarray(loglam, dtype=float)
    npix = loglam.size
    wave = 10.0 ** loglam
    fy = 1.0 / (1.0 + np.exp(-(np.asarray(log_ssfr_fib) - m.young_ssfr_mid)
                             / m.young_ssfr_width))
    cont = stellar_continuum(loglam, z, fy, dust_av, m.populations)
    rband = (wave >= 5600.0) & (wave <= 6800.0)
    # f_lambda [1e-17 cgs] of 1 nmgy at 6166 A: 3.631e-29 erg/s/cm2/Hz * c / lambda^2
    nmgy_flambda = 3.631e-29 * 2.998e18 / 6166.0**2 / 1e-17
    scale = np.asarray(fibre_r_nmgy, dtype=float) * nmgy_flambda / cont[:, rband].mean(1)
    cont = cont * scale[:, None]
    d4000 = d4000_of_mix(fy, dust_av, m.populations)
    oh = metallicity_oh(logm, rng, m.oh_scatter)
    log_sfr = np.asarray(log_ssfr_fib) + np.asarray(lgm_fib)
    lines = emission_line_fluxes(z, log_sfr, dust_av, oh)
    model = cont.copy()
    sigma_v = np.hypot(np.maximum(np.asarray(v_disp_kms, dtype=float), 40.0),
                       m.instrument_sigma_kms)
    sigma_px = sigma_v / _C_KMS / np.log(10.0) / LOGLAM_STEP
    for name, flux in lines.items():
        _add_gaussians(model, loglam, EMISSION_LINES[name] * (1.0 + z), sigma_px, flux)

    sky = np.broadcast_to(sky_spectrum(loglam, m), (n, npix))
    # Variance of object + sky photons and read noise, scaled to the catalogued S/N.
    shape = np.maximum(model, 0.0) + sky + 0.5 * m.sky_continuum
    sigma0 = np.sqrt(shape)
    snr0 = np.median(model[:, rband] / sigma0[:, rband], axis=1)
    sigma = sigma0 * (snr0 / np.asarray(sn_median_r, dtype=float))[:, None]
    resid = m.sky_residual_fraction * (sky - m.sky_continuum * (wave / 5500.0) ** 1.5)
    flux = model + sigma * rng.standard_normal((n, npix)) + resid * rng.standard_normal((n, 1))
    sigma_tot = np.hypot(sigma, 0.5 * resid)
    ivar = 1.0 / sigma_tot**2

    and_mask = np.zeros((n, npix), dtype=np.int32)
    bright = sky[0] > 3.0 * np.median(sky[0])
    and_mask[:, bright] |= 1 << SPPIXMASK["BRIGHTSKY"]
    or_mask = and_mask.copy()
    or_mask |= np.where(rng.random((n, npix)) < 0.01, 1 << SPPIXMASK["PARTIALREJECT"], 0
                        ).astype(np.int32)
    # Rejected pixel runs: ivar = 0, flux kept as the interpolated model (as spcombine).
    n_runs = rng.poisson(m.masked_runs_mean, n)
    run_rows = np.repeat(np.arange(n), n_runs)
    starts = rng.integers(0, npix, run_rows.size)
    lengths = rng.integers(1, 21, run_rows.size)
    full = (1 << SPPIXMASK["FULLREJECT"]) | (1 << SPPIXMASK["NEARBADPIXEL"])
    for r, s0, ln in zip(run_rows, starts, lengths, strict=True):
        sl = slice(s0, min(s0 + ln, npix))
        ivar[r, sl] = 0.0
        flux[r, sl] = model[r, sl]
        and_mask[r, sl] |= full
        or_mask[r, sl] |= full
    bad = np.full(n, "", dtype=object)
    hit = np.flatnonzero(rng.random(n) < m.bad_spectrum_fraction)
    kinds = rng.choice(["dead_fibre", "missing_blue", "missing_red"], hit.size)
    split = np.searchsorted(wave, 5900.0)  # the dichroic between the two cameras
    nodata = (1 << SPPIXMASK["NODATA"]) | (1 << SPPIXMASK["NOSKY"])
    for r, kind in zip(hit, kinds, strict=True):
        sl = {"dead_fibre": slice(0, npix), "missing_blue": slice(0, split),
              "missing_red": slice(split, npix)}[kind]
        ivar[r, sl] = 0.0
        flux[r, sl] = 0.0
        and_mask[r, sl] |= nodata
        or_mask[r, sl] |= nodata
        bad[r] = kind
    # Line S/N as a matched filter on the noisy spectrum would measure it.
    line_snr, line_cont = {}, {}
    for name, lf in lines.items():
        centre = np.log10(EMISSION_LINES[name] * (1.0 + z))
        pix = np.clip(np.rint((centre - loglam[0]) / LOGLAM_STEP).astype(int), 0, npix - 1)
        sig = sigma_tot[np.arange(n), pix] * np.where(ivar[np.arange(n), pix] > 0, 1.0, np.inf)
        dlam = 10.0**centre * LOGLAM_STEP * np.log(10.0)
        inside = (centre > loglam[0]) & (centre < loglam[-1])
        snr = lf / (sig * dlam * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_px))
        line_snr[name] = np.where(inside, snr, 0.0)
        line_cont[name] = np.where(inside, cont[np.arange(n), pix], 0.0)
    wdisp = np.broadcast_to(
        (0.85 + 0.35 * np.abs(np.linspace(-1.0, 1.0, npix)) ** 1.5).astype(np.float32),
        (n, npix))
    return SimulatedSpectra(
        loglam=loglam, flux=flux.astype(np.float32), ivar=ivar.astype(np.float32),
        model=model.astype(np.float32), sky=np.asarray(sky, dtype=np.float32),
        wdisp=np.asarray(wdisp), and_mask=and_mask, or_mask=or_mask, d4000=d4000,
        line_flux=lines, line_snr=line_snr, line_cont=line_cont, oh=oh, bad=bad)


def noiseless_spectra(
    loglam: np.ndarray,
    z: np.ndarray,
    fibre_r_nmgy: np.ndarray,
    log_ssfr_fib: np.ndarray,
    lgm_fib: np.ndarray,
    oh: np.ndarray,
    dust_av: np.ndarray,
    v_disp_kms: np.ndarray,
    m: SpectrumModel = SpectrumModel(),
) -> np.ndarray:
    """The noiseless model of :func:`simulate_spectra` on any 1e-4 dex grid.

    ``simulate_spectra`` draws its noise around this model on its own grid; here the
    same continuum and lines are evaluated on ``loglam`` (e.g. wider than the SDSS
    range, for a rest-frame truth beyond the observed coverage; pixel centres at whole
    1e-4 dex steps from :data:`LOGLAM_START`, as the mock's plates). The continuum scale
    is set on the observed 5600-6800 A pixels of :func:`sdss_loglam` as there, and
    ``oh`` is the drawn metallicity
    (``SimulatedSpectra.oh``; the mock's ``oh_true``), so the result equals
    ``SimulatedSpectra.model`` wherever the grids share pixels.

    Returns
    -------
    numpy.ndarray
        (n, n_pixels) float32 [1e-17 erg/s/cm^2/A].
    """
    z = np.asarray(z, dtype=float)
    loglam = np.asarray(loglam, dtype=float)
    fy = 1.0 / (1.0 + np.exp(-(np.asarray(log_ssfr_fib) - m.young_ssfr_mid)
                             / m.young_ssfr_width))
    # the scale's grid: the 5600-6800 A pixels of the SDSS grid (every mock plate's grid
    # holds the same ones: they differ by whole pixels at the blue end only)
    ref = sdss_loglam()
    ref_wave = 10.0 ** ref
    rband = (ref_wave >= 5600.0) & (ref_wave <= 6800.0)
    nmgy_flambda = 3.631e-29 * 2.998e18 / 6166.0**2 / 1e-17
    ref_cont = stellar_continuum(ref, z, fy, dust_av, m.populations)
    scale = np.asarray(fibre_r_nmgy, dtype=float) * nmgy_flambda / ref_cont[:, rband].mean(1)
    model = stellar_continuum(loglam, z, fy, dust_av, m.populations) * scale[:, None]
    log_sfr = np.asarray(log_ssfr_fib) + np.asarray(lgm_fib)
    lines = emission_line_fluxes(z, log_sfr, dust_av, np.asarray(oh, dtype=float))
    sigma_v = np.hypot(np.maximum(np.asarray(v_disp_kms, dtype=float), 40.0),
                       m.instrument_sigma_kms)
    sigma_px = sigma_v / _C_KMS / np.log(10.0) / LOGLAM_STEP
    for name, flux in lines.items():
        _add_gaussians(model, loglam, EMISSION_LINES[name] * (1.0 + z), sigma_px, flux)
    return model.astype(np.float32)
