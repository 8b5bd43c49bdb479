"""The mock's DR9 sweep catalogues: the Tractor forward model and the sweep files.

:func:`dr9_catalogues` turns the universe into per-region DR9 rows (TYPE, SHAPE_*,
FLUX_*, MASKBITS ...), :func:`write_sweeps` writes them as the real 10 x 5 deg
``sweep-*.fits`` files, and :func:`mock_sweep_source` lists them for acquisition.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

from galstar.archives.legacysurvey import SWEEP_DEC_STEP, SWEEP_RA_STEP
from galstar.archives.legacysurvey import sweep_name as sweep_name_of_corner
from galstar.io import atomic_path
from galstar.mock.settings import MockSettings
from galstar.mock.universe import psf_fwhm_of_bricks, stream_rng
from galstar.simulate import sky
from galstar.simulate.photometry import (
    BANDS,
    EXTINCTION_R,
    point_flux_sigma_from_depth,
    sersic_enclosed_fraction,
)
from galstar.units import mag_to_nmgy, nmgy_to_mag

__all__ = ["RELEASE", "dr9_catalogues", "write_sweeps", "remove_stale_sweeps", "sweep_box",
           "sweep_name", "mock_sweep_source"]

log = logging.getLogger(__name__)

#: DR9 ``RELEASE`` of each region's rows.
RELEASE = {"north": 9010, "south": 9000}
#: Stars brighter than this r [AB] set MASKBITS bit 1 (BRIGHT) around them.
BRIGHT_STAR_MAG = 13.0


def sweep_box(ra: float, dec: float) -> tuple[int, int, int, int]:
    """The 10 x 5 deg DR9 sweep box ``(ramin, decmin, ramax, decmax)`` holding a position."""
    ramin = int(np.floor(ra / SWEEP_RA_STEP)) * SWEEP_RA_STEP
    decmin = int(np.floor(dec / SWEEP_DEC_STEP)) * SWEEP_DEC_STEP
    return ramin, decmin, ramin + SWEEP_RA_STEP, decmin + SWEEP_DEC_STEP


def sweep_name(box: tuple[int, int, int, int]) -> str:
    """Real DR9 sweep file name of a box, e.g. ``sweep-150p030-160p035.fits``."""
    return sweep_name_of_corner(box[0], box[1])


def dr9_catalogues(
    universe: pd.DataFrame, seed: int, s: MockSettings
) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """The DR9 catalogue forward model: what the Tractor would have catalogued.

    Parameters
    ----------
    universe : pandas.DataFrame
        :func:`galstar.mock.universe.draw_universe` sources.
    seed : int
        Archive seed.
    s : MockSettings
        The archive's settings.

    Returns
    -------
    rows : dict of str to pandas.DataFrame
        Sweep rows per region (``north``, ``south``), with a private ``source_id``
        column that :func:`write_sweeps` drops.
    dropped : numpy.ndarray
        ``source_id`` of the spectroscopic galaxies left out of DR9 (masked region).
    """
    rng = stream_rng(seed, 20)
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
                      & (universe["flux_r"] > mag_to_nmgy(BRIGHT_STAR_MAG))]
    mag_b = nmgy_to_mag(bright["flux_r"].to_numpy())
    mask_radius = 30.0 * 10 ** (-0.1 * (mag_b - 12.0))
    out: dict[str, pd.DataFrame] = {}
    for region, inside in footprint.items():
        rg = stream_rng(seed, 21 if region == "north" else 22)
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


def write_sweeps(dr9: dict[str, pd.DataFrame], root: Path) -> list[str]:
    """Write each region's rows into its 10 x 5 deg sweep files.

    Returns
    -------
    list of str
        The files written, relative to ``root`` (``dr9/<region>/sweep/<name>``).
    """
    written = []
    for region, frame in dr9.items():
        boxes = [sweep_box(r, d) for r, d in zip(frame["RA"], frame["DEC"], strict=True)]
        frame = frame.assign(_box=[sweep_name(b) for b in boxes])
        for name, part in frame.groupby("_box", sort=True):
            part = part.sort_values(["BRICKID", "OBJID"])
            table = Table.from_pandas(part.drop(columns=["_box", "source_id"]))
            hdu = fits.BinTableHDU(table, name="SWEEP")
            rel = Path("dr9") / region / "sweep" / name
            with atomic_path(root / rel) as tmp:
                fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp)
            written.append(str(rel))
    return written


def remove_stale_sweeps(root: Path, written: Sequence[str]) -> None:
    """Remove sweep files of an earlier build with another geometry (never picked up)."""
    for stale in sorted(root.glob("dr9/*/sweep/sweep-*.fits")):
        if str(stale.relative_to(root)) not in written:
            stale.unlink()
            log.info("removed stale sweep file %s", stale)


def mock_sweep_source(mock_root: str | os.PathLike
                      ) -> Callable[[Sequence[tuple[str, str]]], list[str]]:
    """``locate(wanted) -> paths`` for :func:`galstar.archives.acquire.list_dr9_sweeps`.

    A ``(region, name)`` is listed when the mock archive has the file
    ``<mock_root>/dr9/<region>/sweep/<name>`` (boxes outside the patch have none).
    """
    root = Path(mock_root)

    def locate(wanted: Sequence[tuple[str, str]]) -> list[str]:
        paths = (root / "dr9" / region / "sweep" / name for region, name in wanted)
        return [str(p) for p in paths if p.is_file()]

    return locate
