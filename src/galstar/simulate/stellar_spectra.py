"""Synthetic M-dwarf spectra: a BT-Settl-like model grid and CARMENES-like observations.

Physics only (no files; :mod:`galstar.mock` writes them). A fixed, seeded line list
(atomic lines, TiO/VO/FeH/H2O band forests and pseudo-continua, a few pressure-damped
resonance lines) gives the optical depth as a function of (Teff, log g, [M/H]); the
surface flux is a blackbody times ``exp(-tau)``, on a log-lambda grid (uniform in
velocity) at resolving power ``lambda / dlambda`` >= 300,000 like the Lyon grid. The
observed stars use a perturbed copy of the line list (the synthetic gap), rotation,
RV and BERV, tellurics, CARMENES resolution and order layout, blaze and noise.
Wavelengths are vacuum Angstrom; velocities km/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from scipy.special import expit, voigt_profile

__all__ = [
    "C_KMS", "GRID_TEFF", "GRID_LOGG", "GRID_MH", "ARM_RANGE_A", "CARMENES_R",
    "NATIVE_R", "MOLECULES", "LineList", "SyntheticGap", "OrderLayout", "ArmObservation",
    "grid_nodes", "in_grid", "make_line_list", "perturb_line_list", "log_lambda_grid",
    "merge_windows", "blackbody_flux", "intrinsic_spectrum", "model_spectrum", "rotational_kernel",
    "carmenes_layout", "blaze", "telluric_line_list", "draw_stellar_parameters",
    "draw_observing_conditions", "observe_arm", "add_cosmetics",
]

C_KMS = 299_792.458
#: The model grid's nodes (BT-Settl-like M-dwarf subgrid).
GRID_TEFF = np.arange(2300.0, 4500.0 + 1, 100.0)
GRID_LOGG = np.array([4.0, 4.5, 5.0, 5.5])
GRID_MH = np.array([-1.0, -0.5, 0.0, 0.5])
#: Wavelength coverage of the CARMENES arms [A, vacuum].
ARM_RANGE_A = {"vis": (5200.0, 9600.0), "nir": (9600.0, 17100.0)}
#: Resolving power of the CARMENES arms.
CARMENES_R = {"vis": 94_600.0, "nir": 80_400.0}
#: Default sampling of the model spectra, lambda / dlambda per pixel.
NATIVE_R = 300_000.0
#: Species classes of the line list (index = ``LineList.species``); 0 is atomic.
MOLECULES = ("atom", "TiO", "VO", "FeH", "H2O")
_THETA_REF = 5040.0 / 3500.0

# Molecular abundance law per molecule: log10 x = a [M/H] + g (log g - 5) + b (theta -
# theta_on); band strength = s_max x / (1 + x) (saturates in the latest types).
_MOL_LAW = {  # a, g, b, theta_on, s_max
    "TiO": (1.0, 0.10, 5.0, 1.36, 1.0),
    "VO": (1.0, 0.05, 6.0, 1.70, 1.0),
    "FeH": (1.0, 0.45, 3.5, 1.45, 1.0),
    "H2O": (0.4, 0.20, 4.0, 1.50, 1.0),
}
# Bands: molecule, head or centre [A], shape ('red' head degraded redward, or 'gauss'),
# e-folding or sigma [A], pseudo-continuum optical depth at full strength, forest lines
# per 1000 A of band.
_BANDS = [
    ("TiO", 5167, "red", 120, 0.25, 900), ("TiO", 5448, "red", 150, 0.3, 900),
    ("TiO", 5847, "red", 150, 0.3, 900), ("TiO", 6159, "red", 130, 0.35, 1000),
    ("TiO", 6651, "red", 220, 0.45, 1000), ("TiO", 7055, "red", 320, 0.7, 1400),
    ("TiO", 7126, "red", 300, 0.5, 1000), ("TiO", 7666, "red", 200, 0.3, 700),
    ("TiO", 8432, "red", 260, 0.4, 900), ("TiO", 8859, "red", 300, 0.35, 800),
    ("TiO", 9209, "red", 250, 0.15, 500),
    ("VO", 7334, "red", 220, 0.35, 800), ("VO", 7851, "red", 160, 0.3, 700),
    ("VO", 8521, "red", 160, 0.2, 600), ("VO", 10460, "red", 220, 0.25, 600),
    ("FeH", 8692, "red", 150, 0.1, 600), ("FeH", 9896, "red", 260, 0.45, 1500),
    ("FeH", 11950, "red", 420, 0.2, 900), ("FeH", 15830, "red", 520, 0.2, 800),
    ("H2O", 9400, "gauss", 260, 0.1, 500), ("H2O", 11400, "gauss", 550, 0.35, 900),
    ("H2O", 14000, "gauss", 850, 0.7, 1100), ("H2O", 18200, "gauss", 1100, 0.8, 1100),
]
# Pressure-damped resonance lines: wavelength [A, vacuum], log10 tau0, Lorentz HWHM [A]
# at log g 5, Teff 3500 K, [M/H] 0 (Na I, K I, Ca II, Al I, Mg I, Ti I).
_DAMPED = [
    (5891.6, 2.6, 0.35), (5897.6, 2.3, 0.3), (7667.0, 2.7, 0.5), (7701.1, 2.4, 0.45),
    (8185.5, 1.5, 0.25), (8197.1, 1.8, 0.25), (8500.4, 1.2, 0.2), (8544.4, 1.6, 0.3),
    (8664.5, 1.5, 0.28), (11693.4, 1.4, 0.35), (11772.8, 1.6, 0.35),
    (12435.7, 1.4, 0.4), (12525.6, 1.5, 0.4), (13127.0, 1.1, 0.3), (13154.3, 1.0, 0.3),
    (15040.2, 1.0, 0.35), (15753.3, 1.0, 0.35), (9718.9, 0.9, 0.2), (10399.6, 0.8, 0.2),
]
# Gaussian line width per species: thermal mass [amu], pressure term [km/s] at log g 5.
_SPECIES_WIDTH = {"atom": (50.0, 0.6), "TiO": (64.0, 0.3), "VO": (67.0, 0.3),
                  "FeH": (57.0, 0.8), "H2O": (18.0, 0.5)}
_MICRO_KMS = 1.0
_CORE_FLOOR = 0.02
_LN10 = np.log(10.0)


@dataclass(frozen=True)
class LineList:
    """A seeded line list (one row per line) plus the molecular bands.

    Attributes
    ----------
    wavelength : ndarray
        Rest wavelength [A, vacuum], sorted.
    species : ndarray of int8
        Index into :data:`MOLECULES`.
    log_strength : ndarray
        log10 optical depth at the line centre at the reference (3500 K, log g 5,
        [M/H] 0) before the molecular abundance factor.
    teff_coeff, mh_coeff, logg_coeff : ndarray
        d log10 tau / d theta (theta = 5040 / Teff), d / d[M/H], d / d log g.
    band_scale : dict
        Multiplier of each molecule's abundance (the synthetic gap sets it != 1).
    damped : ndarray
        (n, 3): wavelength, log10 tau0, Lorentz HWHM [A] of the damped lines.
    """

    wavelength: np.ndarray
    species: np.ndarray
    log_strength: np.ndarray
    teff_coeff: np.ndarray
    mh_coeff: np.ndarray
    logg_coeff: np.ndarray
    damped: np.ndarray
    band_scale: dict = field(default_factory=lambda: {m: 1.0 for m in MOLECULES[1:]})

    def __len__(self) -> int:
        return len(self.wavelength)

    def select(self, lo: float, hi: float) -> LineList:
        """The lines with ``lo <= wavelength < hi`` (damped lines are all kept)."""
        i, j = np.searchsorted(self.wavelength, [lo, hi])
        return replace(self, **{k: getattr(self, k)[i:j] for k in _LINE_ARRAYS})


_LINE_ARRAYS = ("wavelength", "species", "log_strength", "teff_coeff", "mh_coeff",
                "logg_coeff")


@dataclass(frozen=True)
class SyntheticGap:
    """How the observed stars' physics differs from the grid's (0 = identical).

    Attributes
    ----------
    scale : float
        Multiplies every deviation below (one knob to open or close the gap).
    line_depth_dex : float
        Per-line scatter of log10 strength.
    line_shift_kms : float
        Per-line wavelength error (sigma).
    missing_fraction : float
        Fraction of the observed stars' lines absent from the grid's list (they are
        added to the observed list, drawn like the others).
    band_scale : dict
        Molecular band strength in the stars relative to the grid (models over- or
        under-predict TiO and H2O); applied as ``1 + scale * (value - 1)``.
    continuum_slope, continuum_slope_sigma : float
        Continuum mismatch: each star's flux times ``(lambda / 1 um) ** p`` with
        ``p ~ N(slope, sigma) * scale``.
    """

    scale: float = 1.0
    line_depth_dex: float = 0.08
    line_shift_kms: float = 0.15
    missing_fraction: float = 0.04
    band_scale: dict = field(default_factory=lambda: {"TiO": 1.15, "VO": 0.9, "FeH": 1.1,
                                                      "H2O": 0.85})
    continuum_slope: float = 0.3
    continuum_slope_sigma: float = 0.2


def grid_nodes() -> np.ndarray:
    """(368, 3) array of (Teff [K], log g, [M/H]) of the model grid, Teff slowest."""
    t, g, m = np.meshgrid(GRID_TEFF, GRID_LOGG, GRID_MH, indexing="ij")
    return np.column_stack([t.ravel(), g.ravel(), m.ravel()])


def in_grid(teff, logg, mh) -> np.ndarray:
    """True where (Teff, log g, [M/H]) lies inside the grid's parameter box."""
    return ((np.asarray(teff) >= GRID_TEFF[0]) & (np.asarray(teff) <= GRID_TEFF[-1])
            & (np.asarray(logg) >= GRID_LOGG[0]) & (np.asarray(logg) <= GRID_LOGG[-1])
            & (np.asarray(mh) >= GRID_MH[0]) & (np.asarray(mh) <= GRID_MH[-1]))


def _band_envelope(wave: np.ndarray, shape: str, centre: float, width: float) -> np.ndarray:
    if shape == "gauss":
        return np.exp(-0.5 * ((wave - centre) / width) ** 2)
    d = wave - centre
    # Sharp head (a few A) on the blue side, exponential tail degraded to the red.
    out = np.empty_like(d)
    red = d >= 0
    out[red] = np.exp(-d[red] / width)
    out[~red] = np.exp(-0.5 * (d[~red] / 3.0) ** 2)
    return out


def make_line_list(seed: int = 20250611,
                   wavelength_range_a: tuple[float, float] = (4900.0, 17800.0),
                   atomic_per_1000a: float = 650.0) -> LineList:
    """Draw the fixed line list (the same seed gives the same list everywhere).

    Parameters
    ----------
    seed : int
        Line-list seed (not the archive seed: grid and stars share one list).
    wavelength_range_a : (float, float)
        Range covered [A].
    atomic_per_1000a : float
        Density of atomic lines.

    Returns
    -------
    LineList
    """
    rng = np.random.default_rng(seed)
    lo, hi = wavelength_range_a
    parts = []
    n_atom = rng.poisson(atomic_per_1000a * (hi - lo) / 1000.0)
    wave = rng.uniform(lo, hi, n_atom)
    ionised = rng.random(n_atom) < 0.12
    parts.append(dict(
        wavelength=wave, species=np.zeros(n_atom, np.int8),
        log_strength=rng.normal(-1.1, 0.7, n_atom),
        # neutrals strengthen towards cool stars (more neutral atoms); ions weaken
        teff_coeff=np.where(ionised, rng.normal(-1.5, 0.4, n_atom), rng.uniform(-0.2, 1.6, n_atom)),
        mh_coeff=rng.normal(1.0, 0.08, n_atom),
        logg_coeff=np.where(ionised, rng.normal(-0.3, 0.1, n_atom), rng.normal(0.0, 0.06, n_atom)),
    ))
    for mol, centre, shape, width, _, density in _BANDS:
        span = (centre - 4 * width, centre + 4 * width) if shape == "gauss" else (
            centre - 2.0, centre + 5 * width)
        s_lo, s_hi = max(span[0], lo), min(span[1], hi)
        if s_hi <= s_lo:
            continue
        n = rng.poisson(density * (s_hi - s_lo) / 1000.0)
        w = rng.uniform(s_lo, s_hi, n)
        env = _band_envelope(w, shape, centre, width)
        keep = env > 1e-3
        w, env, n = w[keep], env[keep], int(keep.sum())
        parts.append(dict(
            wavelength=w, species=np.full(n, MOLECULES.index(mol), np.int8),
            log_strength=rng.normal(-0.6, 0.5, n) + np.log10(env),
            # rotational-level populations: some lines gain, some lose with Teff
            teff_coeff=rng.normal(0.0, 0.5, n), mh_coeff=np.zeros(n), logg_coeff=np.zeros(n),
        ))
    cat = {k: np.concatenate([p[k] for p in parts]) for k in _LINE_ARRAYS}
    order = np.argsort(cat["wavelength"], kind="stable")
    cat = {k: v[order] for k, v in cat.items()}
    damped = np.array([d for d in _DAMPED if lo <= d[0] < hi], dtype=np.float64)
    return LineList(wavelength=cat["wavelength"], species=cat["species"].astype(np.int8),
                    log_strength=cat["log_strength"], teff_coeff=cat["teff_coeff"],
                    mh_coeff=cat["mh_coeff"], logg_coeff=cat["logg_coeff"], damped=damped)


def perturb_line_list(lines: LineList, gap: SyntheticGap, seed: int = 1) -> LineList:
    """The observed stars' line list: ``lines`` moved away from the grid by ``gap``.

    Strengths scatter by ``line_depth_dex``, positions by ``line_shift_kms``, a fraction
    ``missing_fraction`` of extra lines (copies of random lines at new wavelengths)
    is added, and the molecular band scales are set; all multiplied by ``gap.scale``.
    """
    s = float(gap.scale)
    if s == 0:
        return lines
    rng = np.random.default_rng(seed)
    n = len(lines)
    wave = lines.wavelength * (1.0 + rng.normal(0.0, gap.line_shift_kms * s, n) / C_KMS)
    log_s = lines.log_strength + rng.normal(0.0, gap.line_depth_dex * s, n)
    arrays = dict(wavelength=wave, species=lines.species, log_strength=log_s,
                  teff_coeff=lines.teff_coeff, mh_coeff=lines.mh_coeff,
                  logg_coeff=lines.logg_coeff)
    n_extra = int(round(gap.missing_fraction * s * n))
    if n_extra:
        src = rng.integers(0, n, n_extra)
        # a new line near a random existing one, so it sits inside the same band
        new_wave = lines.wavelength[src] * (1.0 + rng.uniform(-300.0, 300.0, n_extra) / C_KMS)
        extra = {k: v[src] for k, v in arrays.items()}
        extra["wavelength"] = new_wave
        arrays = {k: np.concatenate([arrays[k], extra[k]]) for k in arrays}
    order = np.argsort(arrays["wavelength"], kind="stable")
    arrays = {k: v[order] for k, v in arrays.items()}
    bands = {m: 1.0 + s * (float(gap.band_scale.get(m, 1.0)) - 1.0) for m in MOLECULES[1:]}
    return LineList(**arrays, damped=lines.damped, band_scale=bands)


def log_lambda_grid(lo_a: float, hi_a: float, resolving_power: float = NATIVE_R) -> np.ndarray:
    """Wavelengths [A] from ``lo_a`` to at least ``hi_a``, uniform in ln(lambda), with
    ``lambda / dlambda = resolving_power`` per pixel."""
    dln = np.log1p(1.0 / float(resolving_power))  # lambda / dlambda = R exactly
    n = int(np.ceil(np.log(hi_a / lo_a) / dln)) + 1
    return lo_a * np.exp(dln * np.arange(n))


def merge_windows(windows, pad_a: float = 0.0) -> list[tuple[float, float]]:
    """Sorted, padded, overlap-merged list of (lo, hi) wavelength windows [A]."""
    spans = sorted((float(lo) - pad_a, float(hi) + pad_a) for lo, hi in windows)
    merged: list[list[float]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def blackbody_flux(wave_a: np.ndarray, teff: float) -> np.ndarray:
    """Surface flux pi B_lambda(Teff) [erg/s/cm2/A] (the model continuum)."""
    lam_cm = np.asarray(wave_a, dtype=np.float64) * 1e-8
    hc_k = 1.438776877  # h c / k [cm K]
    two_hc2 = 1.1910429723971884e-5  # 2 h c^2 [erg cm^2 / s]
    lam2 = lam_cm * lam_cm  # products, not **5: pow is slow on large arrays
    b = two_hc2 / (lam2 * lam2 * lam_cm) / np.expm1(hc_k / (lam_cm * teff))  # per cm per sr
    return np.pi * b * 1e-8


def _molecular_strength(teff: float, logg: float, mh: float, mol: str) -> float:
    a, g, b, theta_on, s_max = _MOL_LAW[mol]
    theta = 5040.0 / teff
    x = 10.0 ** (a * mh + g * (logg - 5.0) + b * (theta - theta_on))
    return s_max * x / (1.0 + x)


def _species_sigma_kms(species: str, teff: float, logg: float) -> float:
    mass, pressure = _SPECIES_WIDTH[species]
    v_th2 = 2 * 1.380649e-16 * teff / (mass * 1.66053907e-24) / 1e10  # (km/s)^2
    p = pressure * 10.0 ** (0.15 * (logg - 5.0)) * (teff / 3500.0) ** -0.3
    return float(np.sqrt((v_th2 + _MICRO_KMS**2) / 2.0 + p**2))


def intrinsic_spectrum(wave: np.ndarray, teff: float, logg: float, mh: float,
                       lines: LineList) -> np.ndarray:
    """Surface flux F_lambda [erg/s/cm2/A] of a model atmosphere on a log-lambda grid.

    Parameters
    ----------
    wave : ndarray
        Wavelengths [A], uniform in ln(lambda) (:func:`log_lambda_grid`).
    teff, logg, mh : float
        Effective temperature [K], log10 surface gravity [cgs], [M/H] [dex].
    lines : LineList
        The line list (the grid's, or the stars' from :func:`perturb_line_list`).

    Returns
    -------
    ndarray
        Flux per pixel: ``blackbody_flux * (0.02 + 0.98 exp(-tau))``.
    """
    wave = np.asarray(wave, dtype=np.float64)
    n = len(wave)
    dln = np.log(wave[-1] / wave[0]) / (n - 1)
    dv = C_KMS * dln
    theta = 5040.0 / teff
    sel = lines.select(wave[0] * (1 - 3e-4), wave[-1] * (1 + 3e-4))
    log_tau = (sel.log_strength + sel.teff_coeff * (theta - _THETA_REF)
               + sel.mh_coeff * mh + sel.logg_coeff * (logg - 5.0))
    tau0 = np.exp(_LN10 * log_tau)
    strength = {m: _molecular_strength(teff, logg, mh, m) * lines.band_scale.get(m, 1.0)
                for m in MOLECULES[1:]}
    mol_factor = np.array([1.0] + [strength[m] for m in MOLECULES[1:]])
    tau0 = tau0 * mol_factor[sel.species]
    pos = np.log(sel.wavelength / wave[0]) / dln
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    tau = np.zeros(n)
    for k, name in enumerate(MOLECULES):
        mine = sel.species == k
        if not mine.any():
            continue
        idx = np.clip(left[mine] + 1, 0, n + 1)  # offset 1: lines just off the edges
        spikes = (np.bincount(idx, tau0[mine] * (1 - frac[mine]), minlength=n + 2)
                  + np.bincount(np.clip(idx + 1, 0, n + 1), tau0[mine] * frac[mine],
                                minlength=n + 2))
        sigma_px = _species_sigma_kms(name, teff, logg) / dv
        tau += gaussian_filter1d(spikes, sigma_px, mode="constant")[1:-1]
    for mol, centre, shape, width, depth, _ in _BANDS:
        lo_b, hi_b = (centre - 5 * width, centre + 5 * width) if shape == "gauss" else (
            centre - 15.0, centre + 9 * width)
        i, j = np.searchsorted(wave, [lo_b, hi_b])
        if j > i:
            tau[i:j] += depth * strength[mol] * _band_envelope(wave[i:j], shape, centre, width)
    sigma_a_per_kms = wave / C_KMS
    for lam0, log_t0, gamma0 in lines.damped:
        if not (wave[0] - 150 < lam0 < wave[-1] + 150):
            continue
        i, j = np.searchsorted(wave, [lam0 - 150.0, lam0 + 150.0])
        if j <= i:
            continue
        t0 = 10.0 ** (log_t0 + mh + 0.8 * (theta - _THETA_REF))
        gamma = gamma0 * 10.0 ** (0.18 * (logg - 5.0) + 0.3 * mh) * (teff / 3500.0) ** -0.7
        sig = _species_sigma_kms("atom", teff, logg) * sigma_a_per_kms[(i + j) // 2]
        prof = voigt_profile(wave[i:j] - lam0, sig, gamma)
        tau[i:j] += t0 * prof / voigt_profile(0.0, sig, gamma)
    # Saturated cores keep a little flux (the source function at the top of the
    # atmosphere is not zero), so model fluxes are never 0.
    return blackbody_flux(wave, teff) * (_CORE_FLOOR + (1 - _CORE_FLOOR) * np.exp(-tau))


def model_spectrum(windows, teff: float, logg: float, mh: float, lines: LineList,
                   native_r: float = NATIVE_R) -> tuple[np.ndarray, np.ndarray]:
    """A model-grid spectrum over wavelength windows (each its own log-lambda grid).

    Parameters
    ----------
    windows : sequence of (float, float)
        Disjoint, sorted (lo, hi) ranges [A] (:func:`merge_windows`).
    teff, logg, mh : float
        The node.
    lines : LineList
        The grid's line list.
    native_r : float
        Sampling, lambda / dlambda per pixel.

    Returns
    -------
    wave, flux : ndarray
        Concatenated over the windows, wavelength increasing [A]; F_lambda
        [erg/s/cm2/A].
    """
    waves, fluxes = [], []
    for lo, hi in windows:
        w = log_lambda_grid(lo, hi, native_r)
        waves.append(w)
        fluxes.append(intrinsic_spectrum(w, teff, logg, mh, lines))
    return np.concatenate(waves), np.concatenate(fluxes)


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


def draw_stellar_parameters(n: int, rng: np.random.Generator, outside_fraction: float = 0.03,
                            slow_fraction: float = 0.8) -> pd.DataFrame:
    """Draw true parameters of ``n`` M dwarfs like a CARMENES sample.

    Teff ~ N(3450, 420) K inside the grid; log g follows the M-dwarf sequence (cooler
    is denser) with 0.07 dex scatter; [M/H] ~ N(-0.05, 0.2). A fraction
    ``outside_fraction`` is pushed just outside the grid in one parameter. v sin i
    [km/s]: ``slow_fraction`` log-uniform in 1.5-3, the rest log-uniform in 3-30.

    Returns
    -------
    pandas.DataFrame
        ``teff, logg, mh, vsini, in_grid``.
    """
    teff = np.empty(n)
    filled = 0
    while filled < n:
        draw = rng.normal(3450.0, 420.0, 2 * n)
        draw = draw[(draw >= GRID_TEFF[0]) & (draw <= GRID_TEFF[-1])]
        take = min(n - filled, draw.size)
        teff[filled:filled + take] = draw[:take]
        filled += take
    logg = np.clip(5.0 + 0.28 * (3500.0 - teff) / 1000.0 + rng.normal(0, 0.07, n),
                   GRID_LOGG[0], GRID_LOGG[-1])
    mh = np.clip(rng.normal(-0.05, 0.2, n), GRID_MH[0], GRID_MH[-1])
    out = rng.random(n) < outside_fraction
    which = rng.integers(0, 3, n)
    teff = np.where(out & (which == 0),
                    np.where(rng.random(n) < 0.5, rng.uniform(2150, 2290, n),
                             rng.uniform(4510, 4700, n)), teff)
    mh = np.where(out & (which == 1), rng.uniform(0.52, 0.75, n), mh)
    logg = np.where(out & (which == 2), rng.uniform(5.52, 5.7, n), logg)
    slow = rng.random(n) < slow_fraction
    vsini = np.where(slow, np.exp(rng.uniform(np.log(1.5), np.log(3.0), n)),
                     np.exp(rng.uniform(np.log(3.0), np.log(30.0), n)))
    return pd.DataFrame({"teff": teff, "logg": logg, "mh": mh, "vsini": vsini,
                         "in_grid": in_grid(teff, logg, mh)})


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
