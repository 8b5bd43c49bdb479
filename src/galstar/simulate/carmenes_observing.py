"""CARMENES-like observations of the synthetic M dwarfs: the echelle order layout of
each arm, blaze, tellurics, rotation, RV and BERV, instrumental resolution and noise,
and detector defects.

Physics only (no files; :mod:`galstar.mock.carmenes` writes them). The intrinsic
spectra come from :mod:`galstar.simulate.stellar_spectra`. Wavelengths are vacuum
Angstrom; velocities km/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from scipy.special import expit

from galstar.simulate.stellar_spectra import (
    C_KMS,
    NATIVE_R,
    LineList,
    blackbody_flux,
    intrinsic_spectrum,
    log_lambda_grid,
)

__all__ = [
    "ARM_RANGE_A", "CARMENES_R", "OrderLayout", "ArmObservation", "rotational_kernel",
    "carmenes_layout", "blaze", "telluric_line_list", "draw_observing_conditions",
    "observe_arm", "add_cosmetics",
]

#: Wavelength coverage of the CARMENES arms [A, vacuum].
ARM_RANGE_A = {"vis": (5200.0, 9600.0), "nir": (9600.0, 17100.0)}
#: Resolving power of the CARMENES arms.
CARMENES_R = {"vis": 94_600.0, "nir": 80_400.0}


def rotational_kernel(vsini: float, dv: float, epsilon: float = 0.6) -> np.ndarray:
    """Rotation profile (Gray 2005, limb darkening ``epsilon``) on pixels of ``dv`` km/s.

    Normalised to unit sum; a single pixel when ``vsini`` is below half a pixel.
    """
    half = int(np.floor(vsini / dv))
    if half < 1:
        return np.ones(1)
    x = np.arange(-half, half + 1) * dv / vsini
    one = np.clip(1.0 - x**2, 0.0, None)
    kern = 2 * (1 - epsilon) * np.sqrt(one) + 0.5 * np.pi * epsilon * one
    return kern / kern.sum()


@dataclass(frozen=True)
class OrderLayout:
    """Pixel wavelengths of one CARMENES arm.

    Attributes
    ----------
    arm : str
        ``vis`` or ``nir``.
    orders : ndarray of int
        Order indices kept (0 = bluest of the arm's full set).
    wave : ndarray
        (n_orders, n_px) vacuum wavelengths [A], topocentric (as CARACAL writes WAVE).
    n_orders_full : int
        Orders of the full arm (61 VIS, 28 NIR).
    """

    arm: str
    orders: np.ndarray
    wave: np.ndarray
    n_orders_full: int


def carmenes_layout(arm: str, orders=None) -> OrderLayout:
    """The order layout of a CARMENES-like arm (deterministic, no seed).

    VIS: 61 orders x 4096 px over 0.52-0.96 um, overlapping (35% in the blue, 5% in the
    red). NIR: 28 orders x 4080 px over 0.96-1.71 um from two detectors; the wavelength
    jumps between pixels 2039 and 2040 (the detector gap), and red orders leave gaps
    between them (overlap +10% to -12%). Dispersion is slightly non-linear in pixel.

    Parameters
    ----------
    arm : {"vis", "nir"}
    orders : sequence of int, optional
        Order indices to keep (default all).
    """
    if arm not in ARM_RANGE_A:
        raise ValueError(f"unknown CARMENES arm {arm!r} (vis or nir)")
    lo, hi = ARM_RANGE_A[arm]
    n_ord, n_px, overlap, gap_px = {"vis": (61, 4096, (0.35, 0.05), 0),
                                    "nir": (28, 4080, (0.10, -0.12), 110)}[arm]
    orders_all = np.arange(n_ord)
    keep = orders_all if orders is None else np.asarray(sorted(set(int(o) for o in orders)))
    if keep.size == 0 or keep.min() < 0 or keep.max() >= n_ord:
        raise ValueError(f"{arm} orders must lie in 0..{n_ord - 1}, got {list(keep)}")
    edges = np.log(lo) + np.log(hi / lo) * np.arange(n_ord + 1) / n_ord
    centres = 0.5 * (edges[:-1] + edges[1:])
    fsr = np.diff(edges)
    ov = np.linspace(overlap[0], overlap[1], n_ord)
    span = fsr * (1 + ov)  # ln-lambda covered by the order's pixels and gap
    n_tot = n_px + gap_px
    u = (np.arange(n_tot) - (n_tot - 1) / 2) / (n_tot - 1)  # -0.5 .. 0.5
    u = u + 0.03 * (u**2 - 1 / 12)  # mild non-linear dispersion, monotonic
    if gap_px:
        half = n_px // 2
        u = np.concatenate([u[:half], u[half + gap_px:]])
    wave = np.exp(centres[keep, None] + span[keep, None] * u[None, :])
    return OrderLayout(arm=arm, orders=keep, wave=wave, n_orders_full=n_ord)


def blaze(n_px: int, order: int, n_orders: int) -> np.ndarray:
    """Blaze function of one order: sinc^2 across the order, peak efficiency falling off
    towards the arm's ends."""
    x = (np.arange(n_px) - (n_px - 1) * (0.5 + 0.04 * np.sin(order))) / n_px
    peak = 0.35 + 0.65 * np.exp(-0.5 * ((order - 0.55 * n_orders) / (0.45 * n_orders)) ** 2)
    return peak * np.sinc(0.95 * x) ** 2


def telluric_line_list(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Telluric lines (topocentric): wavelength [A], optical depth at airmass 1 and
    2.5 mm of water, and whether the line is water (scales with PWV)."""
    rng = np.random.default_rng(seed)
    bands = [  # lo, hi, lines, log10 tau mean, water
        (6867, 6935, 60, 0.0, False), (7594, 7700, 90, 0.3, False),
        (12600, 12720, 60, -0.6, False), (15700, 16150, 120, -1.6, False),
        (6270, 6330, 30, -0.8, False), (7160, 7340, 220, -0.9, True),
        (8120, 8360, 260, -0.9, True), (8920, 9800, 900, -0.4, True),
        (10900, 11700, 700, -0.3, True), (13000, 15100, 1600, 0.1, True),
        (16400, 17200, 300, -0.6, True),
    ]
    parts = []
    for lo, hi, n, mu, water in bands:
        parts.append((rng.uniform(lo, hi, n), 10 ** rng.normal(mu, 0.7, n),
                      np.full(n, water)))
    wave, tau, water = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.argsort(wave)
    return wave[order], tau[order], water[order]


#: Opaque water bands (topocentric) [A]: lo, hi, optical depth at airmass 1, 2.5 mm.
_WATER_OPAQUE = [(13520.0, 14250.0, 2.5), (18000.0, 19500.0, 3.0), (9300.0, 9400.0, 0.6)]


def draw_observing_conditions(n: int, rng: np.random.Generator,
                              snr_median: float = 90.0, snr_sigma_dex: float = 0.25,
                              rv_sigma_kms: float = 25.0) -> pd.DataFrame:
    """Sky position, epoch and conditions of one observation per star.

    BERV [km/s] and the barycentric light-time follow from the epoch and RA (Earth's
    orbital velocity projected on the line of sight, ecliptic approximated by the
    equator); Calar Alto sees Dec > -23 deg.

    Returns
    -------
    pandas.DataFrame
        ``ra, dec`` [deg], ``mjd`` (start), ``exptime`` [s], ``airmass``, ``pwv_mm``,
        ``rv`` (true stellar RV) and ``berv`` [km/s], ``bjd`` (mid-exposure), ``snr``
        (target median S/N per pixel of the best order).
    """
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-23.0)), 1.0, n)))
    mjd = rng.uniform(57388.0, 59214.0, n)  # 2016-01-01 .. 2020-12-31
    mjd = np.floor(mjd) + rng.uniform(0.83, 1.20, n)  # at night (UT ~20h-5h)
    exptime = np.round(np.clip(rng.lognormal(np.log(900.0), 0.5, n), 120.0, 1800.0))
    airmass = 1.0 / np.clip(np.cos(np.radians(rng.uniform(5.0, 60.0, n))), 0.4, 1.0)
    pwv = rng.lognormal(np.log(4.0), 0.5, n)
    phase = 2 * np.pi * (mjd - 51544.5) / 365.25 - np.radians(ra)
    berv = 29.8 * np.cos(np.radians(dec)) * np.sin(phase)
    bjd = mjd + 2400000.5 + exptime / 2 / 86400 + 0.00577 * np.cos(np.radians(dec)) * np.cos(phase)
    rv = rng.normal(0.0, rv_sigma_kms, n)
    snr = np.clip(snr_median * 10 ** rng.normal(0.0, snr_sigma_dex, n), 8.0, 600.0)
    return pd.DataFrame({"ra": ra, "dec": dec, "mjd": mjd, "exptime": exptime,
                         "airmass": airmass, "pwv_mm": pwv, "rv": rv, "berv": berv,
                         "bjd": bjd, "snr": snr})


@dataclass
class ArmObservation:
    """One arm of one observed star, as the spectrograph's pipeline would extract it.

    Attributes
    ----------
    wave, spec, sig, cont : ndarray
        (n_orders, n_px): vacuum wavelength [A] (topocentric), extracted flux [e-],
        its 1-sigma noise [e-], and the continuum (blaze x stellar continuum) [e-].
    snr : ndarray
        Median S/N per order (the FOX SNR header values).
    orders : ndarray
        Order indices (into the full arm).
    defects : dict
        Counts of injected defects (telluric gap, cosmic, bad-column, NaN-order pixels).
    """

    wave: np.ndarray
    spec: np.ndarray
    sig: np.ndarray
    cont: np.ndarray
    snr: np.ndarray
    orders: np.ndarray
    defects: dict


def observe_arm(layout: OrderLayout, teff: float, logg: float, mh: float, vsini: float,
                rv: float, berv: float, airmass: float, pwv_mm: float, snr: float,
                lines: LineList, rng: np.random.Generator, *,
                resolving_power: float | None = None, native_r: float = NATIVE_R,
                continuum_slope: float = 0.0, tellurics=None,
                telluric_gap_below: float = 0.02, read_noise_e: float = 4.0) -> ArmObservation:
    """Observe one star with one CARMENES arm.

    Per order: the intrinsic spectrum (rest frame, native log-lambda grid) is rotated,
    Doppler shifted to the observatory (``lambda_topo = lambda_rest (1 + rv/c) /
    (1 + berv/c)``, so adding BERV gives the barycentric frame back), multiplied by
    the telluric transmission, convolved to the arm's resolving power, sampled at the
    pixels, multiplied by the continuum mismatch, the blaze and a count level set so
    that the best order's median S/N is ``snr``, then Poisson-like noise is added.
    Pixels whose telluric transmission is below ``telluric_gap_below`` are NaN.

    Returns
    -------
    ArmObservation
    """
    r_inst = CARMENES_R[layout.arm] if resolving_power is None else float(resolving_power)
    dln = np.log1p(1.0 / native_r)  # as log_lambda_grid
    dv = C_KMS * dln
    doppler = (1.0 + rv / C_KMS) / (1.0 + berv / C_KMS)
    sigma_inst_px = C_KMS / r_inst / (2 * np.sqrt(2 * np.log(2))) / dv
    kern = rotational_kernel(vsini, dv)
    pad = int(np.ceil(6 * sigma_inst_px + len(kern) + 8))
    t_wave, t_tau, t_water = tellurics if tellurics is not None else telluric_line_list()
    t_tau = t_tau * airmass * np.where(t_water, pwv_mm / 2.5, 1.0)
    n_ord, n_px = layout.wave.shape
    model = np.empty((n_ord, n_px))
    contin = np.empty((n_ord, n_px))
    gap = np.zeros((n_ord, n_px), bool)
    for k in range(n_ord):
        w_pix = layout.wave[k]
        lo = w_pix[0] / doppler * np.exp(-pad * dln)
        native = log_lambda_grid(lo, w_pix[-1] / doppler * np.exp(pad * dln), native_r)
        flux = intrinsic_spectrum(native, teff, logg, mh, lines)
        if len(kern) > 1:
            flux = np.convolve(np.pad(flux, len(kern) // 2, mode="edge"), kern, mode="valid")
        topo = native * doppler
        i, j = np.searchsorted(t_wave, [topo[0], topo[-1]])
        trans = np.ones_like(topo)
        if j > i:
            pos = np.log(t_wave[i:j] / topo[0]) / dln
            spikes = np.bincount(np.rint(pos).astype(np.int64), weights=t_tau[i:j],
                                 minlength=len(topo))[:len(topo)]
            trans = np.exp(-gaussian_filter1d(spikes, 1.2, mode="constant"))
        for w_lo, w_hi, tau_w in _WATER_OPAQUE:  # smooth edges over ~20 A
            edge = expit((topo - w_lo) / 5.0) * expit((w_hi - topo) / 5.0)
            trans = trans * np.exp(-tau_w * airmass * pwv_mm / 2.5 * edge)
        obs = gaussian_filter1d(flux * trans, sigma_inst_px, mode="nearest")
        tr_obs = gaussian_filter1d(trans, sigma_inst_px, mode="nearest")
        model[k] = np.interp(w_pix, topo, obs)
        gap[k] = np.interp(w_pix, topo, tr_obs) < telluric_gap_below
        contin[k] = blackbody_flux(w_pix / doppler, teff)
    tilt = (layout.wave / 1e4) ** continuum_slope
    blz = np.stack([blaze(n_px, int(o), layout.n_orders_full) for o in layout.orders])
    shape = model * tilt * blz
    cont_shape = contin * tilt * blz
    # counts so that the best order's median S/N (of the continuum) is `snr`
    med = np.nanmedian(cont_shape, axis=1)
    level = snr**2 / np.max(med)
    mu = shape * level
    sig = np.sqrt(np.clip(mu, 0, None) + read_noise_e**2)
    spec = mu + rng.standard_normal(mu.shape) * sig
    cont = cont_shape * level
    snr_order = np.nanmedian(np.clip(mu, 0, None) / sig, axis=1)
    spec[gap] = np.nan
    sig[gap] = np.nan
    return ArmObservation(wave=layout.wave.copy(), spec=spec, sig=sig, cont=cont,
                          snr=snr_order, orders=layout.orders.copy(),
                          defects={"telluric_gap_px": int(gap.sum())})


def add_cosmetics(obs: ArmObservation, rng: np.random.Generator, *,
                  cosmics_per_order: float = 1.5, bad_columns_per_order: float = 0.3,
                  nan_order_probability: float = 0.0) -> ArmObservation:
    """Detector defects: cosmic-ray hits (1-3 px spikes of 5-80 sigma), bad columns
    (3-8 px at zero flux with a large sigma) and, with ``nan_order_probability``, one
    order entirely NaN (a failed extraction). Modifies ``obs`` in place and returns it."""
    n_ord, n_px = obs.spec.shape
    n_cr = rng.poisson(cosmics_per_order * n_ord)
    rows, cols = rng.integers(0, n_ord, n_cr), rng.integers(0, n_px - 3, n_cr)
    for r, c, w, a in zip(rows, cols, rng.integers(1, 4, n_cr), rng.uniform(5, 80, n_cr),
                          strict=True):
        obs.spec[r, c:c + w] += a * np.nan_to_num(obs.sig[r, c:c + w], nan=0.0)
    n_bc = rng.poisson(bad_columns_per_order * n_ord)
    rows, cols = rng.integers(0, n_ord, n_bc), rng.integers(0, n_px - 8, n_bc)
    for r, c, w in zip(rows, cols, rng.integers(3, 9, n_bc), strict=True):
        obs.spec[r, c:c + w] = 0.0
        obs.sig[r, c:c + w] = 1e3 * np.nanmax(obs.sig[r])
    nan_orders = 0
    if rng.random() < nan_order_probability:
        r = int(rng.integers(0, n_ord))
        obs.spec[r] = np.nan
        obs.sig[r] = np.nan
        obs.snr[r] = 0.0
        nan_orders = 1
    obs.defects.update(cosmics=int(n_cr), bad_columns=int(n_bc), nan_orders=nan_orders)
    return obs
