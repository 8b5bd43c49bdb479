"""DR9 sweep neighbours of each catalogued galaxy, streamed (for the catalogue blend pass).

For every galaxy of a catalogue shard, the sweep sources within ``radius_arcsec`` of its
DR9 position (the cutout centre), other than the galaxy itself, with the columns that
describe their light (model type, flux, shape, PSF size) and their offsets from the
cutout centre. Only sources of the galaxy's own data release (north 9010, south 9000)
are kept, plus sources only the other region catalogues (near the edge of the galaxy's
region): in the north/south overlap the sweeps list every source twice, so another
release's row within ``duplicate_arcsec`` of the galaxy or of one of its own release's
neighbours is the same source and dropped. The sweeps are streamed in row chunks with a
KD-tree of the galaxies, as in :mod:`galstar.catalog.crossmatch`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import astropy.units as u
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from galstar.catalog.crossmatch import (
    DR9_IDENTITY,
    chord_length,
    iter_sweep_chunks,
    read_sweep_list,
    unit_vectors,
)
from galstar.io import read_parquet, write_parquet

__all__ = ["NEIGHBOUR_SWEEP_COLUMNS", "find_neighbours", "match_sweep_identity",
           "run_neighbours"]

log = logging.getLogger(__name__)

#: Sweep columns kept per neighbour (besides its identity and position).
NEIGHBOUR_SWEEP_COLUMNS: tuple[str, ...] = (
    "TYPE", "FLUX_G", "FLUX_R", "FLUX_Z", "SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC",
    "PSFSIZE_G", "PSFSIZE_R", "PSFSIZE_Z",
)


def _offsets_arcsec(ra: np.ndarray, dec: np.ndarray, ra0: np.ndarray, dec0: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (TAN) offsets east and north of (ra0, dec0), arcsec (the cutout WCS)."""
    ra, dec, ra0, dec0 = (np.radians(a) for a in (ra, dec, ra0, dec0))
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    to_arcsec = (1.0 * u.rad).to_value(u.arcsec)
    return xi * to_arcsec, eta * to_arcsec


def match_sweep_identity(ra: np.ndarray, dec: np.ndarray, sweep_paths: Sequence[str],
                         radius_arcsec: float = 1.0, chunk_rows: int = 500_000
                         ) -> pd.DataFrame:
    """RA, DEC (as given) and the DR9 identity of the nearest sweep source within
    ``radius_arcsec`` of each position (RELEASE, BRICKID, OBJID = -1 without one).

    For positions that are not catalogue rows (tests, benchmarks): what the cross-match
    gives the pipeline's galaxies.
    """
    xyz = unit_vectors(np.asarray(ra, float), np.asarray(dec, float))
    tree = cKDTree(xyz)
    best = np.full(len(xyz), np.inf)
    ident = np.full((len(xyz), 3), -1, dtype=np.int64)
    for path in sweep_paths:
        for _, block in iter_sweep_chunks(path, [*DR9_IDENTITY, "RA", "DEC"], chunk_rows):
            pairs = tree.sparse_distance_matrix(
                cKDTree(unit_vectors(block["RA"], block["DEC"])),
                chord_length(float(radius_arcsec) * u.arcsec), output_type="ndarray")
            for i, j, d in zip(pairs["i"], pairs["j"], pairs["v"], strict=True):
                if d < best[i]:
                    best[i] = d
                    ident[i] = [int(block[c][j]) for c in DR9_IDENTITY]
    out = pd.DataFrame({"RA": np.asarray(ra, float), "DEC": np.asarray(dec, float)})
    for k, c in enumerate(DR9_IDENTITY):
        out[c] = ident[:, k]
    return out


def find_neighbours(
    galaxies: pd.DataFrame,
    sweep_paths: Sequence[str],
    radius_arcsec: float,
    chunk_rows: int = 500_000,
    duplicate_arcsec: float = 1.0,
) -> pd.DataFrame:
    """Sweep sources within ``radius_arcsec`` of each galaxy, the galaxy itself excluded.

    Parameters
    ----------
    galaxies : pandas.DataFrame
        object_id, RA, DEC and the DR9 identity (RELEASE, BRICKID, OBJID).
    sweep_paths : sequence of str
        DR9 sweep files.
    radius_arcsec : float
        Search radius; the cutout's half-diagonal plus the reach of a neighbour's wing.
    chunk_rows : int
        Sweep rows read at a time (bounds memory).
    duplicate_arcsec : float
        Another release's row this close to the galaxy or to a neighbour of its own
        release is a north/south duplicate.

    Returns
    -------
    pandas.DataFrame
        One row per (galaxy, neighbour): object_id (the galaxy), the neighbour's
        RELEASE, BRICKID, OBJID, RA, DEC, :data:`NEIGHBOUR_SWEEP_COLUMNS`,
        dx_arcsec (east), dy_arcsec (north) and sep_arcsec; sorted by object_id, then
        separation.
    """
    needed = ["object_id", "RA", "DEC", *DR9_IDENTITY]
    missing = [c for c in needed if c not in galaxies.columns]
    if missing:
        raise KeyError(f"galaxy table lacks columns {missing}")
    columns = [*DR9_IDENTITY, "RA", "DEC", *NEIGHBOUR_SWEEP_COLUMNS]
    out_columns = ["object_id", *columns, "dx_arcsec", "dy_arcsec", "sep_arcsec"]
    if len(galaxies) == 0:
        return pd.DataFrame({c: [] for c in out_columns})
    g = galaxies.reset_index(drop=True)
    tree = cKDTree(unit_vectors(g["RA"].to_numpy(), g["DEC"].to_numpy()))
    max_chord = chord_length(float(radius_arcsec) * u.arcsec)
    identity = {c: g[c].to_numpy().astype(np.int64) for c in DR9_IDENTITY}
    parts = []
    for path in sweep_paths:
        for _, block in iter_sweep_chunks(path, columns, chunk_rows):
            pairs = tree.sparse_distance_matrix(
                cKDTree(unit_vectors(block["RA"], block["DEC"])), max_chord,
                output_type="ndarray")
            if len(pairs) == 0:
                continue
            i, j = pairs["i"], pairs["j"]
            same_release = block["RELEASE"][j].astype(np.int64) == identity["RELEASE"][i]
            itself = same_release & np.all(
                [block[c][j].astype(np.int64) == identity[c][i] for c in DR9_IDENTITY[1:]],
                axis=0)
            i, j = i[~itself], j[~itself]
            part = pd.DataFrame({c: block[c][j] for c in columns})
            part.insert(0, "object_id", g["object_id"].to_numpy()[i])
            dx, dy = _offsets_arcsec(block["RA"][j], block["DEC"][j],
                                     g["RA"].to_numpy()[i], g["DEC"].to_numpy()[i])
            part["dx_arcsec"], part["dy_arcsec"] = dx, dy
            part["sep_arcsec"] = np.hypot(dx, dy)
            parts.append(part)
    if not parts:
        return pd.DataFrame({c: [] for c in out_columns})
    table = pd.concat(parts, ignore_index=True)
    table["TYPE"] = table["TYPE"].astype(str).str.strip()
    own = g.set_index("object_id")["RELEASE"].astype(np.int64)
    table = _drop_duplicates(table, own, duplicate_arcsec)
    return table.sort_values(["object_id", "sep_arcsec"], kind="stable").reset_index(drop=True)


def _drop_duplicates(table: pd.DataFrame, own_release: pd.Series, radius_arcsec: float
                     ) -> pd.DataFrame:
    """Drop other-release rows within ``radius_arcsec`` of the galaxy (offset 0, 0) or of
    a same-release neighbour of the same galaxy."""
    same = table["RELEASE"].astype(np.int64).to_numpy() == own_release.reindex(
        table["object_id"]).to_numpy()
    other = table[~same]
    if other.empty:
        return table
    near_galaxy = other["sep_arcsec"].to_numpy() < radius_arcsec
    pairs = other.reset_index().merge(
        table.loc[same, ["object_id", "dx_arcsec", "dy_arcsec"]], on="object_id",
        suffixes=("", "_own"))
    close = np.hypot(pairs["dx_arcsec"] - pairs["dx_arcsec_own"],
                     pairs["dy_arcsec"] - pairs["dy_arcsec_own"]) < radius_arcsec
    duplicate = set(other.index[near_galaxy]) | set(pairs.loc[close, "index"])
    return table.drop(index=sorted(duplicate))


def run_neighbours(
    shard_paths: Sequence[str | os.PathLike],
    sweep_list_path: str | os.PathLike,
    out_paths: Sequence[str | os.PathLike],
    radius_arcsec: float,
    chunk_rows: int = 500_000,
) -> None:
    """Write one neighbour table per catalogue shard (atomically), one pass over the sweeps.

    Parameters
    ----------
    shard_paths, out_paths : sequences of path
        Catalogue shards and, in the same order, their neighbour tables.
    sweep_list_path : path
        The sweep list of Stage 1.
    radius_arcsec, chunk_rows
        See :func:`find_neighbours`.
    """
    if len(shard_paths) != len(out_paths):
        raise ValueError("one neighbour table per catalogue shard")
    shards = [read_parquet(p, columns=["object_id", "RA", "DEC", *DR9_IDENTITY])
              for p in shard_paths]
    galaxies = pd.concat(shards, ignore_index=True)
    table = find_neighbours(galaxies, read_sweep_list(sweep_list_path), radius_arcsec,
                            chunk_rows)
    for shard, path in zip(shards, out_paths, strict=True):
        part = table[table["object_id"].isin(shard["object_id"])].reset_index(drop=True)
        write_parquet(part, path)
    log.info("%d neighbours of %d galaxies within %.1f arcsec", len(table), len(galaxies),
             radius_arcsec)
