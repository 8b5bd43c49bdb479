"""The mock archive: the simulated universe written in the real archives' formats.

:func:`build_mock_archive` draws the universe (``galstar.simulate``) and writes, under
``root``:

- ``skyserver/galSpec.fits``: MPA-JHU ``galSpecInfo JOIN galSpecExtra`` rows;
- ``dr9/{north,south}/sweep/sweep-*.fits``: DR9 sweep catalogues;
- ``universe.parquet``: every source (what the cutout service renders; never read by
  the pipeline), with the rendering settings in its Parquet metadata;
- ``truth/{galaxies,spectra,pairs}.parquet``: the answers, for scoring only;
- ``manifest.json``: counts, settings and the list of files.

:class:`MockCutoutService` renders Legacy Survey ``fits-cutout`` responses on demand.

Identifiers
-----------
``source_id`` (int64, from 1) numbers every simulated source: spectroscopic targets
first, then their blend companions, field galaxies, stars and quasars. A galaxy's
``galaxy_id`` is its ``source_id``. MPA-JHU rows carry SDSS-style ``specObjID``s (bit
packed plate/fiber/MJD); DR9 rows carry (RELEASE, BRICKID, OBJID) with RELEASE 9010 in
the north and 9000 in the south. ``truth/pairs.parquet`` links them through
``source_id``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits
from astropy.table import Table

from galstar.io import atomic_path, write_parquet

log = logging.getLogger(__name__)

__all__ = ["MockSettings", "build_mock_archive", "MockCutoutService", "CUT_ORDER"]

#: The GalEffNet cuts in the order ``expected_cut`` names the first failure.
CUT_ORDER: tuple[str, ...] = (
    "spectrotype", "reliable", "z_positive", "z_warning", "sn_median_r", "valid_mass_ssfr",
)
#: ``sn_median_r`` threshold the truth's ``expected_cut`` refers to (the paper's 5).
SN_MEDIAN_R_MIN = 5.0
#: Missing-value sentinels of MPA-JHU.
SENTINELS = (-9999.0, -99.0, -1.0)
RELEASE = {"north": 9010, "south": 9000}
_META_KEY = b"galstar.mock"
_MAX_CUTOUT_SIZE = 512  # the Legacy Survey service caps size


@dataclass(frozen=True)
class MockSettings:
    """Everything but the counts and the seed that shapes the mock archive.

    Attributes
    ----------
    patch_center : (float, float)
        (RA, Dec) [deg] of the square patch; the default sits on the RA = 160 sweep
        boundary and on the DR9 north/south boundary (Dec 32.375).
    density_per_deg2 : float
        Mean source density; sets the patch area. 12,000 / deg^2 puts ~1.5 neighbours
        in a 40 arcsec cutout.
    north_south_overlap_deg : float
        Sources within this distance of Dec 32.375 are catalogued by both regions.
    min_target_separation_arcsec : float
        Spectroscopic objects are at least this far apart (fibre collisions).
    exclusion_arcsec : float
        No other source is placed this close to a spectroscopic object, so the true
        counterpart is the only DR9 source within a 3 arcsec match radius.
    companion_fraction : float
        Fraction of spectroscopic galaxies given a physical companion overlapping
        their isophote (more blends arise from chance alignments).
    companion_max_sep_arcsec : float
        Companions are at most this far from their host.
    repeat_fraction, unreliable_fraction, z_warning_fraction, z_nonpositive_fraction,
    low_sn_fraction, invalid_mass_fraction : float
        Per-row rates of each MPA-JHU defect (independent, so some rows have several).
    no_dr9_fraction : float
        Spectroscopic galaxies absent from DR9 (masked region).
    spec_star_fraction, qso_fraction : float
        Stars and quasars with an MPA-JHU row, relative to ``n_galaxies``.
    bright_star_fraction : float
        Fraction of stars with r in 9.5-13.
    depth_mag : dict
        DR9-like 5-sigma point-source depths [AB] per band.
    depth_psf_fwhm_arcsec : float
        PSF FWHM the depths refer to (sets the per-pixel noise).
    psf_fwhm_range_arcsec : (float, float)
        Per-brick, per-band effective PSF FWHM range.
    psf_beta : float
        Moffat beta.
    sersic_trunc : float
        Sersic truncation radius in half-light radii.
    blend_isophote_nmgy_arcsec2 : float
        Surface brightness (grz summed) of the isophote that defines a blend.
    mpajhu_position_sigma_arcsec, dr9_position_sigma_arcsec : float
        Per-axis astrometric scatter of each catalogue around the true position.
    pixscale_arcsec : float
        Native pixel scale, for the per-pixel noise.
    """

    patch_center: tuple[float, float] = (160.0, 32.375)
    density_per_deg2: float = 12000.0
    north_south_overlap_deg: float = 0.1
    min_target_separation_arcsec: float = 15.0
    exclusion_arcsec: float = 3.5
    companion_fraction: float = 0.05
    companion_max_sep_arcsec: float = 11.0
    repeat_fraction: float = 0.04
    unreliable_fraction: float = 0.02
    z_warning_fraction: float = 0.02
    z_nonpositive_fraction: float = 0.005
    low_sn_fraction: float = 0.04
    invalid_mass_fraction: float = 0.02
    no_dr9_fraction: float = 0.02
    spec_star_fraction: float = 0.015
    qso_fraction: float = 0.01
    bright_star_fraction: float = 0.03
    depth_mag: dict = field(default_factory=lambda: {"g": 24.0, "r": 23.4, "z": 22.5})
    depth_psf_fwhm_arcsec: float = 1.3
    psf_fwhm_range_arcsec: tuple[float, float] = (1.1, 1.6)
    psf_beta: float = 3.5
    sersic_trunc: float = 5.0
    blend_isophote_nmgy_arcsec2: float = 1.0
    mpajhu_position_sigma_arcsec: float = 0.15
    dr9_position_sigma_arcsec: float = 0.06
    pixscale_arcsec: float = 0.262

    @classmethod
    def from_options(cls, **opts: Any) -> MockSettings:
        """Build from keyword options, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise ValueError(f"unknown mock archive option(s) {unknown}; known: {sorted(known)}")
        for key in ("patch_center", "psf_fwhm_range_arcsec"):
            if key in opts:
                opts[key] = tuple(float(v) for v in opts[key])
        settings = cls(**opts)
        lo, hi = settings.psf_fwhm_range_arcsec
        if not 0 < lo <= hi:
            raise ValueError(f"mock option psf_fwhm_range_arcsec must be 0 < lo <= hi: {lo, hi}")
        if set(settings.depth_mag) != {"g", "r", "z"}:
            raise ValueError(f"mock option depth_mag needs g, r, z: {settings.depth_mag}")
        return settings

    def pixel_sigma(self) -> dict[str, float]:
        """Per-pixel noise sigma [nmgy] per band, from the depths."""
        from galstar.simulate.photometry import pixel_sigma_from_depth

        return {
            b: pixel_sigma_from_depth(d, self.depth_psf_fwhm_arcsec, self.pixscale_arcsec)
            for b, d in self.depth_mag.items()
        }


def psf_fwhm_of_bricks(
    brickid: np.ndarray, seed: int, fwhm_range: tuple[float, float]
) -> np.ndarray:
    """Effective PSF FWHM [arcsec] per brick and band (n, 3): one seeing per brick,
    g a little worse and z a little better than r, inside ``fwhm_range``.
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


# --------------------------------------------------------------------------- universe


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream)])


def _ebv(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """A smooth Galactic reddening field E(B-V) [mag] over the patch."""
    return 0.02 + 0.008 * np.sin(np.radians(ra) * 40.0) * np.cos(np.radians(dec) * 30.0)


def _draw_universe(
    n_galaxies: int, n_field: int, n_stars: int, seed: int, s: MockSettings
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Draw and place every source. Returns (universe, galaxy truth, geometry)."""
    from galstar.simulate import population as pop
    from galstar.simulate import sky
    from galstar.simulate.photometry import mag_to_nmgy

    model = pop.PopulationModel()
    targets = pop.draw_spectroscopic_galaxies(n_galaxies, _rng(seed, 1), model)
    n_comp = min(int(round(s.companion_fraction * n_galaxies)), n_field)
    rng_c = _rng(seed, 2)
    hosts = rng_c.choice(n_galaxies, size=n_comp, replace=False)
    companions = pop.draw_companions(targets.iloc[hosts], rng_c, model)
    field_gals = pop.draw_field_galaxies(n_field - n_comp, _rng(seed, 3), model)
    rng_s = _rng(seed, 4)
    stars = pop.draw_stars(n_stars, rng_s, s.bright_star_fraction)
    n_spec_stars = min(int(round(s.spec_star_fraction * n_galaxies)), n_stars)
    # spectroscopic stars: the first n_spec_stars non-bright stars, moved to r 14-17.5
    n_bright = int((stars["mag_r"] < 13.0).sum())
    spec_star_idx = np.arange(n_bright, n_bright + n_spec_stars)
    shift = rng_s.uniform(14.0, 17.5, n_spec_stars) - stars.loc[spec_star_idx, "mag_r"].to_numpy()
    for b in "grz":
        stars.loc[spec_star_idx, f"mag_{b}"] += shift
    n_qso = int(round(s.qso_fraction * n_galaxies))
    qsos = pop.draw_qsos(n_qso, _rng(seed, 5))

    n_total = n_galaxies + n_field + n_stars + n_qso
    area = n_total / s.density_per_deg2
    half = float(np.sqrt(area) / 2.0) * sky.ARCSEC_PER_DEG  # arcsec
    rng_p = _rng(seed, 6)
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
    from galstar.simulate.photometry import BANDS, EXTINCTION_R

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


# --------------------------------------------------------------------------- DR9


def _dr9_catalogues(
    universe: pd.DataFrame, seed: int, s: MockSettings
) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """DR9 sweep rows per region (with a private ``source_id`` column) and the
    ``source_id``s of spectroscopic galaxies left out of DR9 (masked region)."""
    from galstar.simulate import sky
    from galstar.simulate.photometry import (
        BANDS,
        EXTINCTION_R,
        point_flux_sigma_from_depth,
        sersic_enclosed_fraction,
    )

    rng = _rng(seed, 20)
    targets = np.flatnonzero(universe["role"].to_numpy() == "target")
    n_drop = int(round(s.no_dr9_fraction * len(targets)))
    dropped = np.sort(rng.choice(targets, size=n_drop, replace=False))
    present = np.ones(len(universe), dtype=bool)
    present[dropped] = False
    dec = universe["dec"].to_numpy()
    footprint = {
        "north": dec >= sky.NORTH_SOUTH_DEC - s.north_south_overlap_deg,
        "south": dec < sky.NORTH_SOUTH_DEC + s.north_south_overlap_deg,
    }
    # bright stars (r < 13): MASKBITS bit 1 (BRIGHT) within a magnitude-dependent radius
    bright = universe[(universe["kind"] == "star")
                      & (universe["flux_r"] > 10 ** ((22.5 - 13.0) / 2.5))]
    mag_b = 22.5 - 2.5 * np.log10(bright["flux_r"].to_numpy())
    mask_radius = 30.0 * 10 ** (-0.1 * (mag_b - 12.0))
    out: dict[str, pd.DataFrame] = {}
    for region, inside in footprint.items():
        rg = _rng(seed, 21 if region == "north" else 22)
        sel = np.flatnonzero(inside & present)
        u = universe.iloc[sel].reset_index(drop=True)
        n = len(u)
        cosd = np.cos(np.radians(u["dec"].to_numpy()))
        sig = s.dr9_position_sigma_arcsec / 3600.0
        ra_m = np.mod(u["ra"].to_numpy() + rg.normal(0, sig, n) / cosd, 360.0)
        dec_m = u["dec"].to_numpy() + rg.normal(0, sig, n)
        brickid, brickname = sky.brick_of(ra_m, dec_m)
        # OBJID: detection order within a brick, arbitrary but reproducible
        order = rg.permutation(n)
        objid = np.empty(n, dtype=np.int32)
        seen: dict[int, int] = {}
        for i in order:
            b = int(brickid[i])
            objid[i] = seen.get(b, 0)
            seen[b] = objid[i] + 1
        r_e = u["r_e_arcsec"].to_numpy()
        n_s = u["sersic_n"].to_numpy()
        q = u["axis_ratio"].to_numpy()
        is_point = u["is_point"].to_numpy()
        compact = ~is_point & (r_e < 0.3)
        rtype = np.where(is_point | compact, "PSF",
                         np.where(n_s == 4.0, "DEV",
                                  np.where(n_s == 1.0,
                                           np.where((q > 0.85) | (r_e < 0.6), "REX", "EXP"),
                                           "SER")))
        ptype = rtype == "PSF"
        ell = np.where(ptype | (rtype == "REX"), 0.0, (1 - q) / (1 + q))
        phi = np.radians(u["pa_deg"].to_numpy())
        e1 = ell * np.cos(2 * phi) + np.where(ell > 0, rg.normal(0, 0.01, n), 0.0)
        e2 = ell * np.sin(2 * phi) + np.where(ell > 0, rg.normal(0, 0.01, n), 0.0)
        shape_r = np.where(ptype, 0.0, r_e * 10 ** rg.normal(0, 0.03, n))
        sersic = np.where(ptype, 0.0, np.where(rtype == "SER",
                                                np.clip(n_s + rg.normal(0, 0.1, n), 0.5, 6.0),
                                                np.where(rtype == "DEV", 4.0, 1.0)))
        psf = psf_fwhm_of_bricks(brickid, seed, s.psf_fwhm_range_arcsec)
        ebv = u["ebv"].to_numpy()
        cat: dict[str, Any] = {
            "RELEASE": np.full(n, RELEASE[region], dtype=np.int16),
            "BRICKID": brickid.astype(np.int32),
            "BRICKNAME": brickname,
            "OBJID": objid,
            "TYPE": rtype,
            "RA": ra_m,
            "DEC": dec_m,
            "EBV": ebv.astype(np.float32),
        }
        fibre_hlr = np.hypot(np.where(is_point, 0.0, r_e), 0.5 * psf[:, 1])
        fibre_frac = sersic_enclosed_fraction(0.75, fibre_hlr, np.where(is_point, 0.5, n_s))
        for k, b in enumerate(BANDS):
            true = u[f"flux_{b}"].to_numpy()
            err = point_flux_sigma_from_depth(s.depth_mag[b]) * np.sqrt(
                1.0 + (np.where(is_point, 0.0, r_e) / 0.5) ** 2)
            cat[f"FLUX_{b.upper()}"] = (true + rg.normal(0, 1, n) * err).astype(np.float32)
            cat[f"FLUX_IVAR_{b.upper()}"] = (1.0 / err**2).astype(np.float32)
            cat[f"MW_TRANSMISSION_{b.upper()}"] = (
                10 ** (-0.4 * EXTINCTION_R[b] * ebv)).astype(np.float32)
            cat[f"FIBERFLUX_{b.upper()}"] = (true * fibre_frac).astype(np.float32)
            cat[f"NOBS_{b.upper()}"] = rg.integers(1, 5, n).astype(np.int16)
            cat[f"PSFSIZE_{b.upper()}"] = psf[:, k].astype(np.float32)
        w1 = u["flux_z"].to_numpy() * 0.9
        for name, flux, depth in (("W1", w1, 19.5), ("W2", w1 * 0.6, 19.0)):
            err = point_flux_sigma_from_depth(depth) * np.ones(n)
            cat[f"FLUX_{name}"] = (flux + rg.normal(0, 1, n) * err).astype(np.float32)
            cat[f"FLUX_IVAR_{name}"] = (1.0 / err**2).astype(np.float32)
        cat.update(
            SHAPE_R=shape_r.astype(np.float32),
            SHAPE_E1=e1.astype(np.float32),
            SHAPE_E2=e2.astype(np.float32),
            SERSIC=sersic.astype(np.float32),
        )
        maskbits = np.zeros(n, dtype=np.int16)
        if len(bright):
            from scipy.spatial import cKDTree

            xy = u[["x_arcsec", "y_arcsec"]].to_numpy()
            tree = cKDTree(bright[["x_arcsec", "y_arcsec"]].to_numpy())
            for j, idx in enumerate(tree.query_ball_point(xy, float(mask_radius.max()))):
                bx = bright[["x_arcsec", "y_arcsec"]].to_numpy()[idx]
                if len(idx) and np.any(np.hypot(*(bx - xy[j]).T) < mask_radius[idx]):
                    maskbits[j] |= 2
        cat["MASKBITS"] = maskbits
        frame = pd.DataFrame(cat)
        frame["source_id"] = u["source_id"].to_numpy()
        out[region] = frame
    return out, universe["source_id"].to_numpy()[dropped]


def _write_sweeps(dr9: dict[str, pd.DataFrame], root: Path) -> list[str]:
    """Write each region's rows into its 10 x 5 deg sweep files; return relative paths."""
    from galstar.simulate import sky

    written = []
    for region, frame in dr9.items():
        boxes = [sky.sweep_box(r, d) for r, d in zip(frame["RA"], frame["DEC"], strict=True)]
        frame = frame.assign(_box=[sky.sweep_name(b) for b in boxes])
        for name, part in frame.groupby("_box", sort=True):
            part = part.sort_values(["BRICKID", "OBJID"])
            table = Table.from_pandas(part.drop(columns=["_box", "source_id"]))
            hdu = fits.BinTableHDU(table, name="SWEEP")
            rel = Path("dr9") / region / "sweep" / name
            with atomic_path(root / rel) as tmp:
                fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp)
            written.append(str(rel))
    return written


# --------------------------------------------------------------------------- MPA-JHU


def spec_obj_id(plate: np.ndarray, fiber: np.ndarray, mjd: np.ndarray,
                run2d: int = 26) -> np.ndarray:
    """SDSS ``specObjID`` bit packing: plate, fiber, MJD - 50000 and run2d."""
    plate = np.asarray(plate, dtype=np.int64)
    fiber = np.asarray(fiber, dtype=np.int64)
    mjd = np.asarray(mjd, dtype=np.int64)
    return (plate << 50) | (fiber << 38) | ((mjd - 50000) << 24) | (np.int64(run2d) << 10)


def expected_cut(table: pd.DataFrame, sn_min: float = SN_MEDIAN_R_MIN) -> np.ndarray:
    """The first GalEffNet cut (in :data:`CUT_ORDER`) each MPA-JHU row fails, '' if none.

    ``valid_mass_ssfr`` means both ``lgm_fib_p50`` and ``specsfr_fib_p50`` are finite and
    not a sentinel (-9999, -99, -1); every non-sentinel value the mock writes lies inside
    the published label ranges (log M* 7.5-11.5, log sSFR -13.5 to -8).
    """
    def valid(col: str) -> np.ndarray:
        x = table[col].to_numpy(dtype=float)
        return np.isfinite(x) & ~np.isin(x, SENTINELS)

    passes = [
        table["spectrotype"].to_numpy() == "GALAXY",
        table["reliable"].to_numpy() == 1,
        table["z"].to_numpy() > 0,
        table["z_warning"].to_numpy() == 0,
        table["sn_median_r"].to_numpy() >= sn_min,
        valid("lgm_fib_p50") & valid("specsfr_fib_p50"),
    ]
    out = np.full(len(table), "", dtype=object)
    for name, ok in zip(reversed(CUT_ORDER), reversed(passes), strict=True):
        out[~ok] = name  # earlier cuts overwrite later ones
    return out


def _mpajhu(
    universe: pd.DataFrame, truth: pd.DataFrame, seed: int, s: MockSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The MPA-JHU table and its truth (one row per spectrum)."""
    from galstar.simulate.population import mpajhu_estimates

    rng = _rng(seed, 30)
    tgt = truth[truth["role"] == "target"].reset_index(drop=True)
    n_t = len(tgt)
    rep = np.sort(rng.choice(n_t, size=int(round(s.repeat_fraction * n_t)), replace=False))
    gal = pd.concat([tgt, tgt.iloc[rep]], ignore_index=True)
    m = len(gal)
    est = mpajhu_estimates(
        gal.rename(columns={"logm_true": "logm", "logssfr_true": "logssfr"}), rng)
    quench = np.clip((-gal["logssfr_true"].to_numpy() - 9.8) / 2.0, 0.0, 1.0)
    mag_r = 22.5 - 2.5 * np.log10(gal["flux_r"].to_numpy())
    sn = np.clip(10 ** rng.normal(np.log10(14.0) - 0.2 * (mag_r - 17.0), 0.12), 5.3, 80.0)
    rows = pd.DataFrame(
        {
            "source_id": gal["galaxy_id"].to_numpy(),
            "galaxy_id": gal["galaxy_id"].to_numpy(),
            "kind": "galaxy",
            "true_ra": gal["ra"].to_numpy(),
            "true_dec": gal["dec"].to_numpy(),
            "z": gal["z"].to_numpy() + rng.normal(0, 3e-5, m),
            "spectrotype": "GALAXY",
            "targettype": "GALAXY",
            "primtarget": 64,
            "subclass": np.where(quench > 0.5, "", np.where(
                gal["logssfr_true"].to_numpy() > -9.0, "STARBURST", "STARFORMING")),
            "bptclass": np.where(quench > 0.8, -1, np.where(quench > 0.4, 3, 1)),
            "v_disp": 10 ** (2.2 + 0.3 * (gal["logm_true"].to_numpy() - 10.5)
                             + rng.normal(0, 0.05, m)),
            "sn_median_r": sn,
            "reliable": 1,
            "z_warning": 0,
            "injected": "",
        }
    )
    rows = pd.concat([rows, est], axis=1)
    # Defects, independently per row.
    def flag(rate: float) -> np.ndarray:
        return rng.random(m) < rate

    inj = [[] for _ in range(m)]
    for name, rate in (("unreliable", s.unreliable_fraction),
                       ("z_warning", s.z_warning_fraction),
                       ("z_nonpositive", s.z_nonpositive_fraction),
                       ("low_sn", s.low_sn_fraction),
                       ("invalid_mass_ssfr", s.invalid_mass_fraction)):
        hit = np.flatnonzero(flag(rate))
        for i in hit:
            inj[i].append(name)
        if name == "unreliable":
            rows.loc[hit, "reliable"] = 0
        elif name == "z_warning":
            rows.loc[hit, "z_warning"] = rng.choice([4, 16, 128, 20], size=hit.size)
        elif name == "z_nonpositive":
            rows.loc[hit, "z"] = np.where(rng.random(hit.size) < 0.5, 0.0,
                                          -rng.uniform(1e-5, 5e-4, hit.size))
        elif name == "low_sn":
            rows.loc[hit, "sn_median_r"] = rng.uniform(1.0, 4.8, hit.size)
        else:
            mode = rng.integers(0, 3, hit.size)
            lgm_cols = [c for c in rows.columns if c.startswith("lgm_fib_")]
            ssfr_cols = [c for c in rows.columns if c.startswith(("specsfr_fib_", "sfr_fib_"))]
            rows.loc[hit[mode == 0], lgm_cols] = -1.0
            rows.loc[hit[mode == 1], ssfr_cols] = -9999.0
            rows.loc[hit[mode == 2], lgm_cols + ssfr_cols] = -99.0
    rows["injected"] = [";".join(v) for v in inj]

    pts = universe[universe["role"].isin(["spec_star", "qso"])].reset_index(drop=True)
    n_p = len(pts)
    is_star = (pts["role"] == "spec_star").to_numpy()
    sentinel = {c: np.full(n_p, -9999.0) for c in est.columns}
    for c in [c for c in est.columns if c.startswith("lgm_")]:
        sentinel[c] = np.full(n_p, -1.0)
    prow = pd.DataFrame(
        {
            "source_id": pts["source_id"].to_numpy(),
            "galaxy_id": -1,
            "kind": np.where(is_star, "star", "qso"),
            "true_ra": pts["ra"].to_numpy(),
            "true_dec": pts["dec"].to_numpy(),
            "z": np.where(is_star, rng.normal(0, 2e-4, n_p), pts["z"].to_numpy()),
            "spectrotype": np.where(is_star, "STAR", "QSO"),
            "targettype": np.where(is_star, "STAR", "QSO"),
            "primtarget": np.where(is_star, 2048, 1),
            "subclass": np.where(is_star, rng.choice(["F5", "G2", "K1", "K7", "M0"], n_p),
                                 "BROADLINE"),
            "bptclass": -1,
            "v_disp": -99.0,
            "sn_median_r": np.clip(10 ** rng.normal(1.3, 0.15, n_p), 5.3, 80.0),
            "reliable": 1,
            "z_warning": 0,
            "injected": "",
            **sentinel,
        }
    )
    allrows = pd.concat([rows, prow], ignore_index=True)
    n = len(allrows)
    # Plates of 600 fibres, in a random order so repeats land on other plates.
    order = rng.permutation(n)
    plate = 266 + order // 600
    fiber = 1 + order % 600
    mjd = 51600 + 3 * (plate - 266) + (plate % 7)
    allrows["specObjID"] = spec_obj_id(plate, fiber, mjd)
    allrows["plateid"] = plate.astype(np.int32)
    allrows["mjd"] = mjd.astype(np.int32)
    allrows["fiberid"] = fiber.astype(np.int32)
    sig = s.mpajhu_position_sigma_arcsec / 3600.0
    cosd = np.cos(np.radians(allrows["true_dec"].to_numpy()))
    allrows["ra"] = np.mod(allrows["true_ra"].to_numpy() + rng.normal(0, sig, n) / cosd, 360.0)
    allrows["dec"] = allrows["true_dec"].to_numpy() + rng.normal(0, sig, n)
    sn = allrows["sn_median_r"].to_numpy()
    for b, ratio in (("u", 0.25), ("g", 0.8), ("i", 1.1), ("z", 0.8)):
        allrows[f"sn_median_{b}"] = sn * ratio * 10 ** rng.normal(0, 0.05, n)
    z = allrows["z"].to_numpy()
    allrows["z_err"] = np.abs(1e-5 * (1 + np.abs(z)) * 10 ** rng.normal(0, 0.2, n))
    ebv_src = universe.set_index("source_id")["ebv"]
    allrows["e_bv_sfd"] = ebv_src.loc[allrows["source_id"]].to_numpy()
    allrows["release"] = "dr8"
    allrows["expected_cut"] = expected_cut(allrows)
    allrows = allrows.sort_values("specObjID", ignore_index=True)

    columns = (
        ["specObjID", "plateid", "mjd", "fiberid", "ra", "dec", "primtarget", "targettype",
         "spectrotype", "subclass", "z", "z_err", "z_warning", "v_disp", "sn_median_u",
         "sn_median_g", "sn_median_r", "sn_median_i", "sn_median_z", "e_bv_sfd", "release",
         "reliable", "bptclass"]
        + [f"{q}_{k}_{stat}" for q in ("lgm", "sfr", "specsfr") for k in ("tot", "fib")
           for stat in ("p2p5", "p16", "p50", "p84", "p97p5", "avg", "mode", "entropy")]
    )
    galspec = allrows[columns].copy()
    truth_rows = allrows[["specObjID", "source_id", "galaxy_id", "kind", "expected_cut",
                          "injected", "sn_median_r"]].copy()
    return galspec, truth_rows


def _primary(truth_rows: pd.DataFrame) -> np.ndarray:
    """Among rows passing every cut, the highest-S/N spectrum of each galaxy."""
    ok = (truth_rows["expected_cut"] == "") & (truth_rows["galaxy_id"] > 0)
    cand = truth_rows[ok]
    best = cand.sort_values(["galaxy_id", "sn_median_r"], ascending=[True, False])
    best = best.drop_duplicates("galaxy_id", keep="first")
    return truth_rows["specObjID"].isin(best["specObjID"]).to_numpy()


# --------------------------------------------------------------------------- build


def build_mock_archive(
    root: str | os.PathLike,
    n_galaxies: int,
    n_stars: int,
    n_field: int,
    seed: int,
    **opts: Any,
) -> dict[str, Any]:
    """Simulate the universe and write it as the mock archive under ``root``.

    Parameters
    ----------
    root : path
        Archive directory (config ``mock.root``).
    n_galaxies : int
        Spectroscopic galaxies (each with one or more MPA-JHU rows).
    n_stars : int
        Stars (a few bright; some with an MPA-JHU STAR spectrum).
    n_field : int
        Galaxies without a spectrum (blend companions included).
    seed : int
        Master seed; the archive is a pure function of the arguments.
    **opts
        :class:`MockSettings` fields.

    Returns
    -------
    dict
        The manifest also written to ``root/manifest.json`` (counts, settings, files).

    Notes
    -----
    ``truth/galaxies.parquet`` (one row per galaxy): ``galaxy_id`` (= ``source_id``),
    true position, z, ``logm_true``, ``logssfr_true``, ``lgm_fib_true``,
    ``specsfr_fib_true``, colours, size, Sersic index, shape, fluxes, ``role``
    (target | companion | field), ``host_id`` (companions), ``has_spectrum``,
    ``has_dr9`` and the blend truth. **Definition of a blend**: a galaxy is blended
    (``is_blend``) when the isophote of another source overlaps its own, the isophote
    being at ``blend_isophote_nmgy_arcsec2`` (grz summed, default 1 nmgy/arcsec^2,
    ~2.4x the summed per-pixel noise) of the PSF-free elliptical Sersic profile, or of a
    point source of the same flux at the reference PSF when larger; two isophotes
    overlap when the centres are closer than the sum of the two ellipses' radii along
    the joining line. ``n_overlapping`` counts such neighbours,
    ``blend_neighbour_id`` names the largest and ``blend_flux_ratio`` is their summed
    grz flux over the galaxy's (to score with a stricter, flux-weighted definition).

    ``truth/spectra.parquet`` (one row per MPA-JHU row): ``specObjID``, ``source_id``,
    ``galaxy_id`` (-1 for stars and QSOs), ``kind``, ``injected`` (the defects put in,
    ';'-joined), ``expected_cut`` (first cut failed, '' if none; see
    :func:`expected_cut`), ``is_primary`` (among a galaxy's rows passing every cut, the
    highest ``sn_median_r``), ``has_dr9`` (the source has a DR9 record, the only DR9
    source within 3.5 arcsec) and ``n_dr9`` (its DR9 records: 2 in the north/south
    overlap).

    ``truth/pairs.parquet``: one row per (MPA-JHU row, DR9 record of the same source):
    ``specObjID, source_id, galaxy_id, RELEASE, BRICKID, OBJID, region, sep_arcsec``.
    """
    settings = MockSettings.from_options(**opts)
    for name, value, low in (("n_galaxies", n_galaxies, 1), ("n_stars", n_stars, 0),
                             ("n_field", n_field, 0)):
        if int(value) < low:
            raise ValueError(f"config key 'mock.{name}' must be >= {low}, got {value}")
    if int(seed) < 0:
        raise ValueError(f"config key 'seed' must be >= 0, got {seed}")
    root = Path(root)
    universe, gal_truth, geometry = _draw_universe(
        int(n_galaxies), int(n_field), int(n_stars), int(seed), settings)
    dr9, dropped = _dr9_catalogues(universe, int(seed), settings)
    gal_truth["has_dr9"] = ~gal_truth["galaxy_id"].isin(dropped)
    galspec, spectra = _mpajhu(universe, gal_truth, int(seed), settings)
    spectra["is_primary"] = _primary(spectra)

    records = pd.concat(
        [f[["source_id", "RELEASE", "BRICKID", "OBJID", "RA", "DEC"]].assign(region=r)
         for r, f in dr9.items()], ignore_index=True)
    pos = galspec[["specObjID", "ra", "dec"]]
    pairs = spectra[["specObjID", "source_id", "galaxy_id"]].merge(records, on="source_id")
    pairs = pairs.merge(pos, on="specObjID")
    dra = (pairs["RA"] - pairs["ra"]) * np.cos(np.radians(pairs["dec"]))
    pairs["sep_arcsec"] = np.hypot(dra, pairs["DEC"] - pairs["dec"]) * 3600.0
    pairs = pairs.drop(columns=["RA", "DEC", "ra", "dec"]).sort_values(
        ["specObjID", "RELEASE"], ignore_index=True)
    n_dr9 = records.groupby("source_id").size()
    spectra["n_dr9"] = spectra["source_id"].map(n_dr9).fillna(0).astype(np.int64).to_numpy()
    spectra["has_dr9"] = spectra["n_dr9"] > 0
    spectra = spectra.drop(columns=["sn_median_r"])

    sweeps = _write_sweeps(dr9, root)
    # sweep files of an earlier build with another geometry must not be picked up
    for stale in sorted(root.glob("dr9/*/sweep/sweep-*.fits")):
        if str(stale.relative_to(root)) not in sweeps:
            stale.unlink()
            log.info("removed stale sweep file %s", stale)
    meta = {
        "seed": int(seed),
        "settings": asdict(settings),
        "pixel_sigma_nmgy": settings.pixel_sigma(),
        "render": {"psf_beta": settings.psf_beta, "sersic_trunc": settings.sersic_trunc},
    }
    table = pa.Table.from_pandas(universe, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           _META_KEY: json.dumps(meta).encode()})
    with atomic_path(root / "universe.parquet") as tmp:
        pq.write_table(table, tmp)
    write_parquet(gal_truth, root / "truth" / "galaxies.parquet")
    write_parquet(spectra, root / "truth" / "spectra.parquet")
    write_parquet(pairs, root / "truth" / "pairs.parquet")
    tgt = gal_truth[gal_truth["role"] == "target"]
    manifest = {
        **meta,
        "counts": {
            "n_galaxies": int(n_galaxies), "n_field": int(n_field), "n_stars": int(n_stars),
            **{k: v for k, v in geometry.items() if k.startswith("n_")},
            "universe": len(universe),
            "mpajhu_rows": len(galspec),
            "dr9_rows": {r: len(f) for r, f in dr9.items()},
            "expected_cut": spectra["expected_cut"].value_counts().to_dict(),
            "primary_with_dr9": int((spectra["is_primary"] & spectra["has_dr9"]).sum()),
            "target_blend_fraction": float(tgt["is_blend"].mean()),
        },
        "area_deg2": geometry["area_deg2"],
        "files": {
            "galspec": "skyserver/galSpec.fits",
            "sweeps": sweeps,
            "universe": "universe.parquet",
            "truth": [f"truth/{n}.parquet" for n in ("galaxies", "spectra", "pairs")],
        },
    }
    # galSpec.fits last: the workflow treats it as the archive's completion marker.
    hdu = fits.BinTableHDU(Table.from_pandas(galspec), name="GALSPEC")
    with atomic_path(root / "skyserver" / "galSpec.fits") as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp)
    with atomic_path(root / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    log.info("mock archive %s: %d sources, %d MPA-JHU rows, DR9 %s, blend fraction %.3f",
             root, len(universe), len(galspec), manifest["counts"]["dr9_rows"],
             manifest["counts"]["target_blend_fraction"])
    return manifest


# --------------------------------------------------------------------------- cutouts


class MockCutoutService:
    """The Legacy Survey ``fits-cutout`` service, rendered from the mock universe.

    Parameters
    ----------
    root : path
        A directory written by :func:`build_mock_archive`.

    Notes
    -----
    Responses are deterministic in (ra, dec, size, pixscale, band, seed): the noise of
    each band is drawn from a generator seeded by the archive seed, the position rounded
    to 1e-7 deg, the geometry and the band, so repeated calls return identical bytes.
    The PSF of a cutout is that of the brick holding its centre.
    """

    def __init__(self, root: str | os.PathLike):
        from scipy.spatial import cKDTree

        self.root = Path(root)
        path = self.root / "universe.parquet"
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as err:
            raise OSError(f"mock archive universe {path} cannot be read: {err}") from err
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"{path} has no '{_META_KEY.decode()}' metadata: not a mock archive")
        meta = json.loads(raw)
        self.seed = int(meta["seed"])
        self.settings = MockSettings.from_options(**meta["settings"])
        self.pixel_sigma = {b: float(v) for b, v in meta["pixel_sigma_nmgy"].items()}
        u = table.to_pandas()
        self._u = u
        self._ra = u["ra"].to_numpy()
        self._dec = u["dec"].to_numpy()
        self._flux = u[["flux_g", "flux_r", "flux_z"]].to_numpy()
        self._tree = cKDTree(_unit(self._ra, self._dec))
        self._extent: dict[float, float] = {}
        galaxies = self.root / "truth" / "galaxies.parquet"
        self._blend = None
        if galaxies.exists():
            t = pq.read_table(galaxies, columns=["galaxy_id", "is_blend", "n_overlapping"])
            self._blend = t.to_pandas().set_index("galaxy_id")

    def _max_extent_arcsec(self, pixscale: float) -> float:
        """Largest stamp radius any source can have [arcsec] (bounds the neighbour query)."""
        if pixscale not in self._extent:
            self._extent[pixscale] = self._compute_max_extent(pixscale)
        return self._extent[pixscale]

    def _compute_max_extent(self, pixscale: float) -> float:
        settings = self._settings()
        gal = ~self._u["is_point"].to_numpy()
        extent = 0.0
        if gal.any():
            q = np.clip(self._u["axis_ratio"].to_numpy()[gal], 0.05, 1.0)
            extent = float(np.max(settings.sersic_trunc * self._u["r_e_arcsec"].to_numpy()[gal]
                                  / np.sqrt(q)))
        star = settings.star_stamp_max_px * pixscale
        return max(extent, star) + 2.5 * self.settings.psf_fwhm_range_arcsec[1] + 1.0

    def _settings(self):
        from galstar.simulate.render import RenderSettings

        return RenderSettings(psf_beta=self.settings.psf_beta,
                              sersic_trunc=self.settings.sersic_trunc)

    @staticmethod
    def _check(ra: float, dec: float, size: int, pixscale: float, bands: str = "grz",
               layer: str = "ls-dr9") -> None:
        if not (np.isfinite(ra) and np.isfinite(dec) and -90.0 <= dec <= 90.0):
            raise ValueError(f"cutout position out of range: ra={ra}, dec={dec}")
        if int(size) != size or not 1 <= size <= _MAX_CUTOUT_SIZE:
            raise ValueError(f"cutout size must be an integer in [1, {_MAX_CUTOUT_SIZE}]: {size}")
        if not (np.isfinite(pixscale) and pixscale > 0):
            raise ValueError(f"cutout pixscale must be > 0 arcsec: {pixscale}")
        if not bands or any(b not in "grz" for b in bands) or len(set(bands)) != len(bands):
            raise ValueError(f"cutout bands must be distinct letters of 'grz': {bands!r}")
        if layer != "ls-dr9":
            raise ValueError(f"the mock archive serves layer 'ls-dr9' only, not {layer!r}")

    def _scene(self, ra: float, dec: float, size: int, pixscale: float):
        """Sources that can touch the cutout, in its pixel frame; PSF of its brick."""
        from galstar.simulate import sky
        from galstar.simulate.render import Stamps

        half_diag = size * pixscale / np.sqrt(2.0)
        # reach of the largest stamps: bright-star wings and big galaxies
        reach = half_diag + self._max_extent_arcsec(pixscale)
        idx = np.sort(np.asarray(
            self._tree.query_ball_point(_unit(ra, dec)[0], 2 * np.sin(np.radians(reach / 7200.0))),
            dtype=np.int64))
        u = self._u.iloc[idx]
        xi, eta = sky.radec_to_tangent(self._ra[idx], self._dec[idx], ra, dec)
        scale = pixscale / 3600.0
        crpix = (size + 1) / 2.0
        stamps = Stamps(
            x=crpix - xi / scale,
            y=crpix + eta / scale,
            flux=self._flux[idx],
            r_e_arcsec=u["r_e_arcsec"].to_numpy(),
            sersic_n=u["sersic_n"].to_numpy(),
            axis_ratio=u["axis_ratio"].to_numpy(),
            beta_img_deg=90.0 + u["pa_deg"].to_numpy(),
            is_point=u["is_point"].to_numpy(),
        )
        brickid, _ = sky.brick_of(np.array([ra]), np.array([dec]))
        fwhm = psf_fwhm_of_bricks(brickid, self.seed, self.settings.psf_fwhm_range_arcsec)[0]
        return idx, stamps, fwhm

    def psf_fwhm(self, ra: float, dec: float) -> dict[str, float]:
        """Effective PSF FWHM [arcsec] per band of a cutout centred at (ra, dec)."""
        from galstar.simulate import sky

        brickid, _ = sky.brick_of(np.array([ra]), np.array([dec]))
        fwhm = psf_fwhm_of_bricks(brickid, self.seed, self.settings.psf_fwhm_range_arcsec)[0]
        return dict(zip("grz", map(float, fwhm), strict=True))

    def cube(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262,
             bands: str = "grz") -> np.ndarray:
        """The noisy (nband, size, size) float32 image [nmgy] :meth:`fits_bytes` serves."""
        from galstar.simulate.render import render_scene

        self._check(ra, dec, size, pixscale, bands)
        band_idx = ["grz".index(b) for b in bands]
        _, stamps, fwhm = self._scene(ra, dec, int(size), float(pixscale))
        # always rendered in g, r and z: which sources are drawn and how far out is
        # decided on all three, so a single-band request equals that plane of 'grz'
        sigma_all = np.array([self.pixel_sigma[b] for b in "grz"])
        image = render_scene(stamps, int(size), float(pixscale), fwhm, sigma_all,
                             self._settings())[band_idx]
        sigma = sigma_all[band_idx]
        key = [self.seed, 13, int(round(np.mod(ra, 360.0) * 1e7)),
               int(round((dec + 90.0) * 1e7)), int(size), int(round(pixscale * 1e6))]
        for k, b in enumerate(bands):
            rng = np.random.default_rng(key + ["grz".index(b)])
            image[k] += rng.normal(0.0, sigma[k], image[k].shape)
        return image.astype(np.float32)

    def fits_bytes(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262,
                   bands: str = "grz", layer: str = "ls-dr9") -> bytes:
        """A cutout as the Legacy Survey ``fits-cutout`` service returns it.

        One primary HDU: float32 (nband, size, size) nanomaggies, TAN WCS centred on
        (ra, dec) with ``CRPIX = (size + 1) / 2`` and ``CD = diag(-pixscale, pixscale)``,
        and keywords ``BANDS``, ``BAND0..``.

        Raises
        ------
        ValueError
            For a position, size (> 512), pixscale, band string or layer the service
            would refuse.
        """
        self._check(ra, dec, size, pixscale, bands, layer)
        data = self.cube(ra, dec, size, pixscale, bands)
        header = _cutout_header(int(size), float(pixscale), bands, layer).copy()
        header["CRVAL1"] = float(ra)
        header["CRVAL2"] = float(dec)
        # what HDUList.writeto writes (header blocks, big-endian data, zero padding),
        # without re-verifying every card of a template that was verified once
        raw = data.astype(">f4", copy=False).tobytes()
        pad = (-len(raw)) % 2880
        return header.tostring().encode("ascii") + raw + b"\0" * pad

    def truth_maps(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Noiseless target and contaminant images (grz summed) and scalars, for scoring.

        The target is the galaxy whose true position is nearest the centre, within
        1 arcsec (cutouts are requested at DR9 positions, ~0.1 arcsec from the truth);
        without one, ``target`` is all zero and ``target_id`` is -1.

        Returns
        -------
        target, contaminant : (size, size) float32
            Noiseless flux [nmgy/pixel] summed over g, r, z.
        scalars : dict
            ``target_id``, ``is_blend`` and ``n_overlapping`` (the truth table's blend
            definition), ``target_flux`` and ``contaminant_flux`` (inside the cutout),
            ``target_flux_total`` (catalogue flux), ``contaminant_flux_in_isophote``
            (contaminant flux where the target map exceeds the blend isophote),
            ``n_sources`` (sources rendered), ``bright_star`` (a star with r < 13 within
            the cutout's half-diagonal plus 30 arcsec).
        """
        from galstar.simulate.render import render_scene

        self._check(ra, dec, size, pixscale)
        idx, stamps, fwhm = self._scene(ra, dec, int(size), float(pixscale))
        sigma = np.array([self.pixel_sigma[b] for b in "grz"])
        kind = self._u["kind"].to_numpy()[idx]
        sep = np.degrees(np.arccos(np.clip(_unit(ra, dec) @ _unit(self._ra[idx],
                                                                    self._dec[idx]).T, -1, 1)))
        sep = np.atleast_1d(sep.squeeze()) * 3600.0
        gal = np.flatnonzero((kind == "galaxy") & (sep < 1.0))
        is_target = np.zeros(len(idx), dtype=bool)
        target_id = -1
        if gal.size:
            best = gal[np.argmin(sep[gal])]
            is_target[best] = True
            target_id = int(self._u["source_id"].to_numpy()[idx[best]])
        settings = self._settings()
        target = render_scene(stamps.subset(is_target), int(size), float(pixscale), fwhm,
                              sigma, settings).sum(axis=0)
        contaminant = render_scene(stamps.subset(~is_target), int(size), float(pixscale),
                                   fwhm, sigma, settings).sum(axis=0)
        level_px = self.settings.blend_isophote_nmgy_arcsec2 * pixscale**2
        blend = n_over = None
        if target_id > 0 and self._blend is not None and target_id in self._blend.index:
            blend = bool(self._blend.at[target_id, "is_blend"])
            n_over = int(self._blend.at[target_id, "n_overlapping"])
        r_mag = 22.5 - 2.5 * np.log10(np.maximum(stamps.flux[:, 1], 1e-30))
        near = sep < size * pixscale / np.sqrt(2.0) + 30.0
        scalars = {
            "target_id": target_id,
            "is_blend": bool(blend) if blend is not None else False,
            "n_overlapping": n_over if n_over is not None else 0,
            "target_flux": float(target.sum()),
            "target_flux_total": float(stamps.flux[is_target].sum()) if target_id > 0 else 0.0,
            "contaminant_flux": float(contaminant.sum()),
            "contaminant_flux_in_isophote": float(contaminant[target > level_px].sum()),
            "n_sources": int(len(idx)),
            "bright_star": bool(np.any((kind == "star") & (r_mag < 13.0) & near)),
        }
        return target.astype(np.float32), contaminant.astype(np.float32), scalars


def _unit(ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
    """Unit vectors (n, 3) of sky positions [deg]."""
    ra_r = np.radians(np.atleast_1d(np.asarray(ra, dtype=float)))
    dec_r = np.radians(np.atleast_1d(np.asarray(dec, dtype=float)))
    return np.stack([np.cos(dec_r) * np.cos(ra_r), np.cos(dec_r) * np.sin(ra_r),
                     np.sin(dec_r)], axis=1)


@lru_cache(maxsize=32)
def _cutout_header(size: int, pixscale: float, bands: str, layer: str) -> fits.Header:
    """The cutout header for a geometry (CRVAL filled per request), verified once."""
    crpix = (size + 1) / 2.0
    cards = [
        ("CTYPE1", "RA---TAN", "TAN (gnomic) projection"),
        ("CTYPE2", "DEC--TAN", "TAN (gnomic) projection"),
        ("CRVAL1", 0.0, "RA  of reference point"),
        ("CRVAL2", 0.0, "DEC of reference point"),
        ("CRPIX1", crpix, "X reference pixel"),
        ("CRPIX2", crpix, "Y reference pixel"),
        ("CUNIT1", "deg", "X pixel scale units"),
        ("CUNIT2", "deg", "Y pixel scale units"),
        ("CD1_1", -pixscale / 3600.0, "Transformation matrix"),
        ("CD1_2", 0.0, ""),
        ("CD2_1", 0.0, ""),
        ("CD2_2", pixscale / 3600.0, ""),
        ("IMAGEW", float(size), "Image width,  in pixels."),
        ("IMAGEH", float(size), "Image height, in pixels."),
        ("BANDS", bands, ""),
    ]
    cards += [(f"BAND{k}", b, "") for k, b in enumerate(bands)]
    cards += [("LAYER", layer, ""), ("VERSION", "DR9", "mock archive"),
              ("BUNIT", "nanomaggy", "")]
    header = fits.Header()
    for key, value, comment in cards:
        header[key] = (value, comment)
    hdu = fits.PrimaryHDU(data=np.zeros((len(bands), size, size), np.float32), header=header)
    hdu.verify("exception")
    hdu.update_header()
    return hdu.header
