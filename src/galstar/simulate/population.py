"""A correlated population of galaxies, stars and quasars, and its MPA-JHU estimates.

Galaxies are drawn from a Schechter stellar-mass function in a comoving volume, then
given correlated properties:

- star formation: a quiescent fraction rising with mass; star-forming galaxies on a main
  sequence (log sSFR ~ -9.6 - 0.35 (log M* - 10), 0.3 dex scatter), quiescent ones near
  -11.9 with 0.4 dex scatter, 8% in a green valley between them, clipped to [-13.5, -8];
- dust: A_V rising with mass on the main sequence, ~0.1 for quiescent galaxies;
- rest-frame g-r and r-z from sSFR, mass and dust, a simple k-correction to the observed
  frame, and the Bell et al. (2003) r-band mass-to-light ratio from g-r;
- sizes from mass-size relations (Shen et al. 2003-like: shallow for star-forming,
  steep for quiescent, 0.15-0.17 dex scatter), Sersic index from ~1 (star-forming) to
  ~4 (quiescent) as a smooth function of sSFR, axis ratios by type;
- apparent magnitudes from the luminosity distance (flat LCDM, H0 = 70, Om0 = 0.3).

The spectroscopic sample is the r < 17.77 magnitude-limited subset in z in (0, 0.35],
like the SDSS main galaxy sample; its redshift distribution peaks near 0.1 as a result
of the selection, not by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.cosmology import FlatLambdaCDM

from galstar.simulate.photometry import (
    MSUN_R_AB,
    mag_to_nmgy,
    sersic_enclosed_fraction,
)

COSMOLOGY = FlatLambdaCDM(H0=70.0, Om0=0.3)

#: Sersic indices are folded onto this grid: the renderer caches one profile per index.
SERSIC_GRID = np.round(np.arange(0.5, 6.0 + 1e-9, 0.25), 2)


@dataclass(frozen=True)
class PopulationModel:
    """Parameters of the simulated galaxy population (defaults: SDSS-like)."""

    z_max_spec: float = 0.35
    r_limit: float = 17.77
    r_bright: float = 13.5
    logm_min: float = 7.5
    logm_max: float = 11.5
    ssfr_min: float = -13.5
    ssfr_max: float = -8.0
    schechter_logm_star: float = 10.8
    schechter_alpha: float = -1.0
    field_z_max: float = 0.6
    field_r_max: float = 23.5
    fibre_radius_arcsec: float = 1.5
    fibre_seeing_fwhm_arcsec: float = 1.5


@lru_cache(maxsize=4)
def _distance_grid(z_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    z = np.linspace(0.0, z_max, 2001)[1:]
    dl = COSMOLOGY.luminosity_distance(z).to_value(u.Mpc)
    da = COSMOLOGY.angular_diameter_distance(z).to_value(u.kpc)
    dv = COSMOLOGY.differential_comoving_volume(z).to_value(u.Mpc**3 / u.sr)
    return z, dl, da, dv


def luminosity_distance_mpc(z: np.ndarray) -> np.ndarray:
    """Luminosity distance [Mpc] (interpolated on a fine grid; z <= 1)."""
    zg, dl, _, _ = _distance_grid(1.0)
    return np.interp(z, zg, dl)


def kpc_per_arcsec(z: np.ndarray) -> np.ndarray:
    """Proper transverse scale [kpc/arcsec] at redshift ``z`` (z <= 1)."""
    zg, _, da, _ = _distance_grid(1.0)
    return np.interp(z, zg, da) * (np.pi / 180.0 / 3600.0)


def draw_redshift_mass(
    m: int, rng: np.random.Generator, z_max: float, model: PopulationModel
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``m`` (z, log M*) pairs uniform in comoving volume from a Schechter function."""
    zg, _, _, dv = _distance_grid(1.0)
    keep = zg <= z_max
    cdf = np.cumsum(dv[keep])
    z = np.interp(rng.random(m) * cdf[-1], cdf, zg[keep])
    lm = np.linspace(model.logm_min, model.logm_max, 2001)
    x = 10.0 ** (lm - model.schechter_logm_star)
    pdf = x ** (model.schechter_alpha + 1.0) * np.exp(-x)
    cdf_m = np.cumsum(pdf)
    logm = np.interp(rng.random(m) * cdf_m[-1], cdf_m, lm)
    return z, logm


def fold_sersic(n: np.ndarray) -> np.ndarray:
    """Fold Sersic indices onto :data:`SERSIC_GRID` (clip to [0.5, 6], nearest 0.25)."""
    n = np.clip(np.asarray(n, dtype=float), SERSIC_GRID[0], SERSIC_GRID[-1])
    return np.round(np.round(n * 4.0) / 4.0, 2)


def galaxy_properties(
    z: np.ndarray, logm: np.ndarray, rng: np.random.Generator, model: PopulationModel
) -> pd.DataFrame:
    """Correlated physical and photometric properties at given redshift and stellar mass.

    Returns
    -------
    pandas.DataFrame
        Columns: z, logm, quiescent, logssfr, dust_av, g_r_rest, r_z_rest, mag_g, mag_r,
        mag_z (observed frame, before Galactic extinction), r_e_kpc, r_e_arcsec
        (circularised half-light radius), sersic_n (folded), axis_ratio, pa_deg (east of
        north), fib_frac (r-band light fraction in the SDSS fibre), lgm_fib_true,
        specsfr_fib_true.
    """
    z = np.asarray(z, dtype=float)
    logm = np.asarray(logm, dtype=float)
    m = z.size
    f_quiescent = 1.0 / (1.0 + np.exp(-(logm - 10.4) / 0.3))
    quiescent = rng.random(m) < f_quiescent
    ssfr = np.where(
        quiescent,
        -11.9 - 0.1 * (logm - 11.0) + rng.normal(0.0, 0.4, m),
        -9.6 - 0.35 * (logm - 10.0) + rng.normal(0.0, 0.3, m),
    )
    # a sparse green valley: galaxies caught while quenching
    transition = rng.random(m) < 0.08
    ssfr = np.where(transition, rng.uniform(-11.4, -10.2, m), ssfr)
    ssfr = np.clip(ssfr, model.ssfr_min + 0.05, model.ssfr_max - 0.05)
    # 0 on the main sequence, 1 when fully quenched: drives colour and profile smoothly.
    quench = np.clip((-ssfr - 9.8) / 2.0, 0.0, 1.0)
    dust = np.where(
        quiescent,
        np.clip(0.1 + rng.normal(0.0, 0.05, m), 0.0, 0.3),
        np.clip(0.3 + 0.5 * (logm - 10.0) + rng.normal(0.0, 0.2, m), 0.0, 2.0),
    )
    sf_term = np.clip(ssfr + 11.2, 0.0, 3.2)
    g_r0 = 0.78 - 0.2 * sf_term + 0.05 * (logm - 10.5) + 0.22 * dust + rng.normal(0, 0.03, m)
    r_z0 = 0.62 - 0.1 * sf_term + 0.04 * (logm - 10.5) + 0.20 * dust + rng.normal(0, 0.03, m)
    # Mass-to-light from the (dust-reddened) colour, Bell et al. (2003), r band, -0.1 dex
    # from their diet-Salpeter to the Kroupa/Chabrier IMF of MPA-JHU.
    log_ml = -0.306 - 0.1 + 1.097 * g_r0
    abs_r = MSUN_R_AB - 2.5 * (logm - log_ml)
    dist_mod = 5.0 * np.log10(luminosity_distance_mpc(z) * 1e5)
    k_r = z * (0.3 + 1.5 * (g_r0 - 0.3))
    mag_r = abs_r + dist_mod + k_r
    mag_g = mag_r + g_r0 + z * (1.0 + 2.0 * (g_r0 - 0.3))
    mag_z = mag_r - (r_z0 + 0.6 * z)
    log_re = np.where(
        quiescent,
        0.50 + 0.60 * (logm - 10.8) + rng.normal(0.0, 0.15, m),
        0.75 + 0.22 * (logm - 10.5) + rng.normal(0.0, 0.17, m),
    )
    r_e_kpc = np.clip(10.0**log_re, 0.3, 25.0)
    r_e_arcsec = r_e_kpc / kpc_per_arcsec(z)
    n_med = 10.0 ** (np.log10(4.0) * quench)
    sersic_n = fold_sersic(n_med * 10.0 ** rng.normal(0.0, 0.08, m))
    axis_ratio = np.where(
        quiescent,
        np.clip(rng.normal(0.78, 0.12, m), 0.35, 1.0),
        np.clip(rng.normal(0.60, 0.20, m), 0.15, 1.0),
    )
    pa = rng.uniform(0.0, 180.0, m)
    seeing_hlr = 0.5 * model.fibre_seeing_fwhm_arcsec
    fib_frac = sersic_enclosed_fraction(
        model.fibre_radius_arcsec, np.hypot(r_e_arcsec, seeing_hlr), sersic_n
    )
    # Centres are older than outskirts: a little more mass per light in the fibre and a
    # lower fibre sSFR on the main sequence.
    lgm_fib = logm + np.log10(fib_frac) + 0.05 * (1.0 - quench)
    ssfr_fib = np.clip(ssfr - 0.15 * (1.0 - quench), model.ssfr_min, model.ssfr_max)
    return pd.DataFrame(
        {
            "z": z,
            "logm": logm,
            "quiescent": quiescent,
            "logssfr": ssfr,
            "dust_av": dust,
            "g_r_rest": g_r0,
            "r_z_rest": r_z0,
            "mag_g": mag_g,
            "mag_r": mag_r,
            "mag_z": mag_z,
            "r_e_kpc": r_e_kpc,
            "r_e_arcsec": r_e_arcsec,
            "sersic_n": sersic_n,
            "axis_ratio": axis_ratio,
            "pa_deg": pa,
            "fib_frac": fib_frac,
            "lgm_fib_true": lgm_fib,
            "specsfr_fib_true": ssfr_fib,
        }
    )


def _draw_selected(
    n: int,
    rng: np.random.Generator,
    model: PopulationModel,
    z_max: float,
    r_lo: float,
    r_hi: float,
    batch: int = 200_000,
) -> pd.DataFrame:
    parts, total = [], 0
    for _ in range(1000):
        if total >= n:
            break
        z, logm = draw_redshift_mass(batch, rng, z_max, model)
        props = galaxy_properties(z, logm, rng, model)
        sel = props[(props["mag_r"] >= r_lo) & (props["mag_r"] < r_hi)]
        parts.append(sel)
        total += len(sel)
    else:  # pragma: no cover - only with absurd selection limits
        raise RuntimeError(f"could not draw {n} galaxies with {r_lo} <= r < {r_hi}")
    return pd.concat(parts, ignore_index=True).iloc[:n].reset_index(drop=True)


def draw_spectroscopic_galaxies(
    n: int, rng: np.random.Generator, model: PopulationModel = PopulationModel()
) -> pd.DataFrame:
    """The magnitude-limited spectroscopic sample: ``model.r_bright <= r < model.r_limit``."""
    return _draw_selected(n, rng, model, model.z_max_spec, model.r_bright, model.r_limit)


def draw_field_galaxies(
    n: int, rng: np.random.Generator, model: PopulationModel = PopulationModel()
) -> pd.DataFrame:
    """Galaxies too faint for a spectrum (``r_limit <= r < field_r_max``), z <= field_z_max."""
    if n == 0:
        return galaxy_properties(np.zeros(0), np.zeros(0), rng, model)
    return _draw_selected(n, rng, model, model.field_z_max, model.r_limit, model.field_r_max)


def draw_companions(
    hosts: pd.DataFrame, rng: np.random.Generator, model: PopulationModel = PopulationModel()
) -> pd.DataFrame:
    """Physical companions: same redshift, 0.1-1.5 dex less massive than their host."""
    logm = np.maximum(hosts["logm"].to_numpy() - rng.uniform(0.1, 1.5, len(hosts)),
                      model.logm_min)
    return galaxy_properties(hosts["z"].to_numpy(), logm, rng, model)


def draw_stars(n: int, rng: np.random.Generator, bright_fraction: float = 0.01) -> pd.DataFrame:
    """Field stars: r from counts rising to faint magnitudes, a few bright (r 9.5-13).

    Colours follow a simple stellar locus; M dwarfs (g-r > 1.1) turn red in r-z.
    """
    n_bright = int(round(bright_fraction * n)) if n else 0
    n_bright = min(max(n_bright, 1 if n >= 20 else 0), n)
    # dN/dm ~ 10^(0.15 m) between 14 and 23: inverse CDF of an exponential.
    k = 0.15 * np.log(10.0)
    u_ = rng.random(n - n_bright)
    mag_faint = np.log(np.exp(k * 14.0) + u_ * (np.exp(k * 23.0) - np.exp(k * 14.0))) / k
    mag_r = np.concatenate([rng.uniform(9.5, 13.0, n_bright), mag_faint])
    g_r = np.clip(rng.normal(0.75, 0.35, n), 0.15, 1.6)
    r_z = 0.5 * g_r - 0.05 + 2.5 * np.clip(g_r - 1.1, 0.0, None) + rng.normal(0, 0.04, n)
    return pd.DataFrame({"mag_g": mag_r + g_r, "mag_r": mag_r, "mag_z": mag_r - r_z})


def draw_qsos(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Quasars: point sources, r 16.5-19, z 0.3-2.5, blue."""
    mag_r = rng.uniform(16.5, 19.0, n)
    return pd.DataFrame(
        {
            "z": rng.uniform(0.3, 2.5, n),
            "mag_g": mag_r + rng.normal(0.15, 0.1, n),
            "mag_r": mag_r,
            "mag_z": mag_r - rng.normal(0.3, 0.15, n),
        }
    )


def fluxes_nmgy(table: pd.DataFrame, transmission: np.ndarray | None = None) -> np.ndarray:
    """(n, 3) observed grz fluxes [nmgy] from ``mag_{g,r,z}`` times MW transmission."""
    flux = np.stack([mag_to_nmgy(table[f"mag_{b}"].to_numpy()) for b in "grz"], axis=1)
    return flux if transmission is None else flux * transmission


def _quantiles(
    p50: np.ndarray, lo: np.ndarray, hi: np.ndarray, prefix: str
) -> dict[str, np.ndarray]:
    """PDF summaries of a two-piece normal with widths ``lo`` (below) and ``hi`` (above)."""
    skew = hi - lo
    return {
        f"{prefix}_p2p5": p50 - 1.96 * lo,
        f"{prefix}_p16": p50 - lo,
        f"{prefix}_p50": p50,
        f"{prefix}_p84": p50 + hi,
        f"{prefix}_p97p5": p50 + 1.96 * hi,
        f"{prefix}_avg": p50 + 0.5 * np.sqrt(2.0 / np.pi) * skew,
        f"{prefix}_mode": p50 - 0.3 * skew,
        # differential entropy of the two-piece normal, in nats
        f"{prefix}_entropy": 0.5 * np.log(2.0 * np.pi * np.e * (0.5 * (lo + hi)) ** 2),
    }


def mpajhu_estimates(
    galaxies: pd.DataFrame, rng: np.random.Generator, model: PopulationModel = PopulationModel()
) -> pd.DataFrame:
    """MPA-JHU-like posterior summaries for each galaxy, from the truth plus scatter.

    Stellar masses scatter by 0.08 dex (fibre) and 0.10 dex (total) around the truth with
    PDF widths 0.07-0.12 dex; specific SFRs by 0.15 dex on the main sequence to 0.5 dex
    for quiescent galaxies, whose PDFs are broad with a long low tail (upper limits in
    MPA-JHU). SFR = sSFR + M*. Medians are kept inside the published label ranges.

    Returns
    -------
    pandas.DataFrame
        ``{lgm,sfr,specsfr}_{tot,fib}_{p2p5,p16,p50,p84,p97p5,avg,mode,entropy}``.
    """
    m = len(galaxies)
    quench = np.clip((-galaxies["logssfr"].to_numpy() - 9.8) / 2.0, 0.0, 1.0)
    out: dict[str, np.ndarray] = {}
    for kind, lgm_true, ssfr_true in (
        ("fib", galaxies["lgm_fib_true"].to_numpy(), galaxies["specsfr_fib_true"].to_numpy()),
        ("tot", galaxies["logm"].to_numpy(), galaxies["logssfr"].to_numpy()),
    ):
        lgm = np.clip(
            lgm_true + rng.normal(0.0, 0.08 if kind == "fib" else 0.10, m),
            model.logm_min, model.logm_max,
        )
        w_m = rng.uniform(0.07, 0.12, m)
        ssfr = np.clip(
            ssfr_true + rng.normal(0.0, 1.0, m) * (0.15 + 0.35 * quench),
            model.ssfr_min, model.ssfr_max,
        )
        lo_s = 0.15 + 0.6 * quench + rng.uniform(0.0, 0.05, m)
        hi_s = 0.12 + 0.25 * quench + rng.uniform(0.0, 0.05, m)
        out.update(_quantiles(lgm, w_m, w_m, f"lgm_{kind}"))
        out.update(_quantiles(ssfr, lo_s, hi_s, f"specsfr_{kind}"))
        out.update(
            _quantiles(lgm + ssfr, np.hypot(lo_s, w_m), np.hypot(hi_s, w_m), f"sfr_{kind}")
        )
    return pd.DataFrame(out)
