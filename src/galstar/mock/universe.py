"""The simulated universe of the mock archive: every source drawn and placed on the patch.

:func:`draw_universe` draws the population (``galstar.simulate``) and places it on the
sky; :func:`write_universe` / :func:`read_universe` keep it in ``universe.parquet`` with
the rendering settings in its metadata (what the cutout service renders from).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from galstar.io import atomic_path
from galstar.mock.settings import MockSettings
from galstar.simulate import population as pop
from galstar.simulate import sky
from galstar.simulate.photometry import BANDS, EXTINCTION_R
from galstar.units import mag_to_nmgy

__all__ = ["draw_universe", "psf_fwhm_of_bricks", "stream_rng", "write_universe", "read_universe"]

#: Parquet metadata key of ``universe.parquet`` (seed, settings, pixel noise).
META_KEY = b"galstar.mock"


def stream_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator of one named stream of the archive seed."""
    return np.random.default_rng([int(seed), int(stream)])


def psf_fwhm_of_bricks(
    brickid: np.ndarray, seed: int, fwhm_range: tuple[float, float]
) -> np.ndarray:
    """Effective PSF FWHM [arcsec] per brick and band, shape (n, 3).

    One seeing per brick, g a little worse and z a little better than r, inside
    ``fwhm_range``; a pure function of (brick, seed).
    """
    lo, hi = fwhm_range
    brickid = np.asarray(brickid, dtype=np.int64)
    out = np.empty((brickid.size, 3))
    uniq, inverse = np.unique(brickid, return_inverse=True)
    per = np.empty((uniq.size, 3))
    for k, b in enumerate(uniq):
        rng = np.random.default_rng([seed, 101, int(b)])
        base = rng.uniform(lo, hi)
        per[k] = np.clip(base * np.array([1.05, 1.0, 0.95]) + rng.normal(0, 0.02, 3), lo, hi)
    out[:] = per[inverse.reshape(-1)]
    return out


def _ebv(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """A smooth Galactic reddening field E(B-V) [mag] over the patch."""
    return 0.02 + 0.008 * np.sin(np.radians(ra) * 40.0) * np.cos(np.radians(dec) * 30.0)


def draw_universe(
    n_galaxies: int, n_field: int, n_stars: int, seed: int, s: MockSettings
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Draw and place every source of the patch.

    Parameters
    ----------
    n_galaxies, n_field, n_stars : int
        Spectroscopic galaxies, galaxies without a spectrum, stars.
    seed : int
        Master seed (each component draws from its own stream).
    s : MockSettings
        The archive's settings.

    Returns
    -------
    universe : pandas.DataFrame
        One row per source: kind, role, position, z, observed grz fluxes, shape.
    truth : pandas.DataFrame
        One row per galaxy: the physical truth and the blend truth.
    geometry : dict
        Patch half-width [arcsec], area [deg^2] and the derived counts.
    """

    model = pop.PopulationModel()
    targets = pop.draw_spectroscopic_galaxies(n_galaxies, stream_rng(seed, 1), model)
    n_comp = min(int(round(s.companion_fraction * n_galaxies)), n_field)
    rng_c = stream_rng(seed, 2)
    hosts = rng_c.choice(n_galaxies, size=n_comp, replace=False)
    companions = pop.draw_companions(targets.iloc[hosts], rng_c, model)
    field_gals = pop.draw_field_galaxies(n_field - n_comp, stream_rng(seed, 3), model)
    rng_s = stream_rng(seed, 4)
    stars = pop.draw_stars(n_stars, rng_s, s.bright_star_fraction)
    n_spec_stars = min(int(round(s.spec_star_fraction * n_galaxies)), n_stars)
    # spectroscopic stars: the first n_spec_stars non-bright stars, moved to r 14-17.5
    n_bright = int((stars["mag_r"] < 13.0).sum())
    spec_star_idx = np.arange(n_bright, n_bright + n_spec_stars)
    shift = rng_s.uniform(14.0, 17.5, n_spec_stars) - stars.loc[spec_star_idx, "mag_r"].to_numpy()
    for b in "grz":
        stars.loc[spec_star_idx, f"mag_{b}"] += shift
    n_qso = int(round(s.qso_fraction * n_galaxies))
    qsos = pop.draw_qsos(n_qso, stream_rng(seed, 5))

    n_total = n_galaxies + n_field + n_stars + n_qso
    area = n_total / s.density_per_deg2
    half = float(np.sqrt(area) / 2.0) * sky.ARCSEC_PER_DEG  # arcsec
    rng_p = stream_rng(seed, 6)
    n_specobj = n_galaxies + n_spec_stars + n_qso
    spec_xy = sky.poisson_disk(n_specobj, rng_p, half, s.min_target_separation_arcsec)
    target_xy = spec_xy[:n_galaxies]
    star_spec_xy = spec_xy[n_galaxies:n_galaxies + n_spec_stars]
    qso_xy = spec_xy[n_galaxies + n_spec_stars:]
    other_star_idx = np.setdiff1d(np.arange(n_stars), spec_star_idx)
    others_xy = sky.uniform_avoiding(
        len(field_gals) + len(other_star_idx), rng_p, half, spec_xy, s.exclusion_arcsec
    )
    field_xy = others_xy[: len(field_gals)]
    star_xy = np.empty((n_stars, 2))
    star_xy[spec_star_idx] = star_spec_xy
    star_xy[other_star_idx] = others_xy[len(field_gals):]

    # Companions: their isophote overlaps the host's by construction.
    psf_ref = s.depth_psf_fwhm_arcsec
    level = s.blend_isophote_nmgy_arcsec2

    def iso(frame: pd.DataFrame, point: bool) -> np.ndarray:
        fsum = sum(mag_to_nmgy(frame[f"mag_{b}"].to_numpy()) for b in "grz")
        if point:
            return sky.isophote_radii(fsum, np.zeros(len(frame)), np.ones(len(frame)),
                                      np.ones(len(frame), bool), level, psf_ref, s.psf_beta,
                                      s.sersic_trunc)
        return sky.isophote_radii(fsum, frame["r_e_arcsec"].to_numpy(),
                                  frame["sersic_n"].to_numpy(), np.zeros(len(frame), bool),
                                  level, psf_ref, s.psf_beta, s.sersic_trunc)

    reach = iso(targets.iloc[hosts], False) + iso(companions, False)
    sep = np.clip(reach * rng_c.uniform(0.4, 0.8, n_comp), s.exclusion_arcsec,
                  s.companion_max_sep_arcsec)
    angle = rng_c.uniform(0.0, 2.0 * np.pi, n_comp)
    comp_xy = target_xy[hosts] + np.stack([sep * np.sin(angle), sep * np.cos(angle)], axis=1)

    gal_cols = list(targets.columns)
    galaxies = pd.concat(
        [targets.assign(role="target"), companions.assign(role="companion"),
         field_gals.assign(role="field")], ignore_index=True,
    )
    galaxies["host_id"] = np.concatenate(
        [np.full(n_galaxies, -1), hosts + 1, np.full(len(field_gals), -1)]
    ).astype(np.int64)
    gal_xy = np.concatenate([target_xy, comp_xy, field_xy])
    n_gal = len(galaxies)
    point_frames = [stars.assign(z=0.0, kind="star"), qsos.assign(kind="qso")]
    points = pd.concat(point_frames, ignore_index=True)
    points["role"] = np.where(points["kind"] == "star", "star", "qso")
    points.loc[spec_star_idx, "role"] = "spec_star"
    xy = np.concatenate([gal_xy, star_xy, qso_xy])
    ra, dec = sky.tangent_to_radec(xy[:, 0] / sky.ARCSEC_PER_DEG, xy[:, 1] / sky.ARCSEC_PER_DEG,
                                   *s.patch_center)
    ebv = _ebv(ra, dec)
    transmission = np.stack([10 ** (-0.4 * EXTINCTION_R[b] * ebv) for b in BANDS], axis=1)
    intrinsic = np.concatenate([pop.fluxes_nmgy(galaxies), pop.fluxes_nmgy(points)])
    flux = intrinsic * transmission
    n_pts = len(points)
    universe = pd.DataFrame(
        {
            "source_id": np.arange(1, n_gal + n_pts + 1, dtype=np.int64),
            "kind": np.concatenate([np.full(n_gal, "galaxy"), points["kind"].to_numpy()]),
            "role": np.concatenate([galaxies["role"].to_numpy(), points["role"].to_numpy()]),
            "ra": ra,
            "dec": dec,
            "x_arcsec": xy[:, 0],
            "y_arcsec": xy[:, 1],
            "z": np.concatenate([galaxies["z"].to_numpy(), points["z"].to_numpy()]),
            "flux_g": flux[:, 0],
            "flux_r": flux[:, 1],
            "flux_z": flux[:, 2],
            "ebv": ebv,
            "is_point": np.concatenate([np.zeros(n_gal, bool), np.ones(n_pts, bool)]),
            "r_e_arcsec": np.concatenate([galaxies["r_e_arcsec"].to_numpy(), np.zeros(n_pts)]),
            "sersic_n": np.concatenate([galaxies["sersic_n"].to_numpy(), np.zeros(n_pts)]),
            "axis_ratio": np.concatenate([galaxies["axis_ratio"].to_numpy(), np.ones(n_pts)]),
            "pa_deg": np.concatenate([galaxies["pa_deg"].to_numpy(), np.zeros(n_pts)]),
        }
    )
    # Blends, on observed fluxes at the reference seeing.
    iso_all = sky.isophote_radii(
        flux.sum(axis=1), universe["r_e_arcsec"].to_numpy(),
        np.where(universe["is_point"], 1.0, universe["sersic_n"]), universe["is_point"].to_numpy(),
        level, psf_ref, s.psf_beta, s.sersic_trunc,
    )
    universe["iso_radius_arcsec"] = iso_all
    is_blend, n_over, brightest, blend_ratio = sky.overlapping_isophotes(
        xy, iso_all, universe["axis_ratio"].to_numpy(), universe["pa_deg"].to_numpy(),
        np.arange(n_gal), flux=flux.sum(axis=1),
    )
    truth = galaxies[gal_cols + ["role", "host_id"]].copy()
    truth.insert(0, "galaxy_id", universe["source_id"].to_numpy()[:n_gal])
    truth.insert(1, "ra", ra[:n_gal])
    truth.insert(2, "dec", dec[:n_gal])
    truth = truth.rename(columns={"logm": "logm_true", "logssfr": "logssfr_true"})
    for k, b in enumerate(BANDS):
        truth[f"flux_{b}"] = flux[:n_gal, k]
    truth["iso_radius_arcsec"] = iso_all[:n_gal]
    truth["is_blend"] = is_blend
    truth["n_overlapping"] = n_over
    truth["blend_flux_ratio"] = blend_ratio
    truth["blend_neighbour_id"] = np.where(
        brightest >= 0, universe["source_id"].to_numpy()[np.maximum(brightest, 0)], -1
    )
    truth["has_spectrum"] = truth["role"] == "target"
    geometry = {"half_width_arcsec": half, "area_deg2": area, "n_qso": n_qso,
                "n_spec_stars": n_spec_stars, "n_companions": n_comp}
    return universe, truth, geometry


def write_universe(universe: pd.DataFrame, meta: dict[str, Any],
                   path: str | os.PathLike) -> None:
    """Write ``universe.parquet`` (atomically) with ``meta`` under :data:`META_KEY`."""
    table = pa.Table.from_pandas(universe, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_universe(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``universe.parquet``: the sources and the metadata :func:`write_universe` put.

    Raises
    ------
    OSError
        When the file cannot be read.
    ValueError
        When it carries no mock metadata (not a mock archive).
    """
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise OSError(f"mock archive universe {path} cannot be read: {err}") from err
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError(f"{path} has no '{META_KEY.decode()}' metadata: not a mock archive")
    return table.to_pandas(), json.loads(raw)
