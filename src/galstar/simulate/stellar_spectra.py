"""Synthetic M-dwarf spectra: a BT-Settl-like model grid and the stars' parameters.

Physics only (no files; :mod:`galstar.mock` writes them). A fixed, seeded line list
(atomic lines, TiO/VO/FeH/H2O band forests and pseudo-continua, a few pressure-damped
resonance lines) gives the optical depth as a function of (Teff, log g, [M/H]); the
surface flux is a blackbody times ``exp(-tau)``, on a log-lambda grid (uniform in
velocity) at resolving power ``lambda / dlambda`` >= 300,000 like the Lyon grid. The
observed stars (:mod:`galstar.simulate.carmenes_observing`) use a perturbed copy of
the line list, the synthetic gap. Wavelengths are vacuum Angstrom; velocities km/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d
from scipy.special import voigt_profile

__all__ = [
    "C_KMS", "GRID_TEFF", "GRID_LOGG", "GRID_MH", "NATIVE_R", "MOLECULES", "LineList",
    "SyntheticGap", "grid_nodes", "in_grid", "make_line_list", "perturb_line_list",
    "log_lambda_grid", "merge_windows", "blackbody_flux", "intrinsic_spectrum",
    "model_spectrum", "draw_stellar_parameters",
]

C_KMS = 299_792.458
#: The model grid's nodes (BT-Settl-like M-dwarf subgrid).
GRID_TEFF = np.arange(2300.0, 4500.0 + 1, 100.0)
GRID_LOGG = np.array([4.0, 4.5, 5.0, 5.5])
GRID_MH = np.array([-1.0, -0.5, 0.0, 0.5])
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
