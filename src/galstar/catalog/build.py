"""Stage 2 end to end: cuts, streamed cross-match, de-duplication, shards and splits.

Produces the tables of ``docs/contracts.md`` (Stage 2): the cross-matched catalogue (one
row per unique galaxy), the cut-flow, the per-shard tables and the rejects (every
MPA-JHU row that is not in the catalogue, with the reason).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from galstar.catalog.crossmatch import DR9_COLUMNS, match_streaming, read_sweep_list
from galstar.catalog.cuts import MPA_REQUIRED_COLUMNS, apply_cuts, paper_cuts, require_columns
from galstar.catalog.samples import assign_shards, assign_splits, deduplicate
from galstar.io import atomic_path, read_parquet, write_parquet

__all__ = ["CatalogBuild", "build_catalog", "run_crossmatch", "shard_index_from_path"]

log = logging.getLogger(__name__)

#: Columns of the rejects table.
REJECT_COLUMNS = ("specObjID", "ra", "dec", "reject_reason", "sep_arcsec", "object_id",
                  "duplicate_of")


@dataclass(frozen=True)
class CatalogBuild:
    """Stage 2 tables.

    Attributes
    ----------
    catalog : pandas.DataFrame
        One row per galaxy, sorted by ``object_id``: object_id, shard, split, sep_arcsec,
        n_candidates, the MPA-JHU columns, the DR9 columns, sweep_file.
    cutflow : pandas.DataFrame
        ``step, rows``: input, the six cuts, crossmatch, dedup_spectra, dedup_dr9.
    rejects : pandas.DataFrame
        Every MPA-JHU row not in ``catalog``: specObjID, ra, dec, reject_reason (a cut
        name, 'no_match' or 'duplicate_spectrum'), sep_arcsec, object_id (its own DR9
        match, -1 if none) and duplicate_of (the kept galaxy, -1 unless a duplicate).
    """

    catalog: pd.DataFrame
    cutflow: pd.DataFrame
    rejects: pd.DataFrame


def build_catalog(
    mpa: pd.DataFrame,
    sweep_paths: Sequence[str],
    *,
    radius_arcsec: float,
    chunk_rows: int,
    sn_median_r_min: float,
    lgm_range: tuple[float, float],
    specsfr_range: tuple[float, float],
    dedup_radius_arcsec: float,
    n_shards: int,
    split: Mapping[str, float],
    seed: int,
    source: str = "MPA-JHU table",
) -> CatalogBuild:
    """Select, cross-match, de-duplicate and assign shards and splits.

    Parameters
    ----------
    mpa : pandas.DataFrame
        Raw MPA-JHU rows (SkyServer column names).
    sweep_paths : sequence of str
        DR9 sweep FITS files.
    radius_arcsec, chunk_rows
        See :func:`~galstar.catalog.crossmatch.match_streaming`.
    sn_median_r_min, lgm_range, specsfr_range
        See :func:`~galstar.catalog.cuts.paper_cuts`.
    dedup_radius_arcsec : float
        See :func:`~galstar.catalog.samples.deduplicate`.
    n_shards, split, seed
        Config ``shards``, ``galaxies.crossmatch.split`` and ``seed``.
    source : str
        Name of the MPA-JHU input for error messages.

    Returns
    -------
    CatalogBuild
    """
    require_columns(mpa, MPA_REQUIRED_COLUMNS, source)
    mpa = mpa.reset_index(drop=True)
    if mpa["specObjID"].duplicated().any():
        dup = mpa.loc[mpa["specObjID"].duplicated(), "specObjID"].iloc[0]
        raise ValueError(f"{source}: specObjID {dup} appears more than once")
    cuts = apply_cuts(mpa, paper_cuts(sn_median_r_min, lgm_range, specsfr_range), source)
    selected = mpa[cuts.passed]
    matches = match_streaming(selected, sweep_paths, radius_arcsec, chunk_rows, DR9_COLUMNS)
    is_match = matches["matched"].to_numpy()
    dedup = deduplicate(matches[is_match], dedup_radius_arcsec)

    catalog = dedup.galaxies.drop(columns="matched")
    oid = catalog["object_id"].to_numpy()
    catalog.insert(1, "shard", assign_shards(oid, n_shards, seed))
    catalog.insert(2, "split", pd.array(assign_splits(oid, split, seed), dtype=object))
    front = ["object_id", "shard", "split", "sep_arcsec", "n_candidates"]
    catalog = catalog[front + [c for c in catalog.columns if c not in front]]

    cut_rejects = mpa.loc[~cuts.passed, ["specObjID", "ra", "dec"]].assign(
        reject_reason=cuts.reject_reason[~cuts.passed].to_numpy(),
        sep_arcsec=np.nan, object_id=-1, duplicate_of=-1,
    )
    no_match = matches.loc[~is_match, ["specObjID", "ra", "dec"]].assign(
        reject_reason="no_match", sep_arcsec=np.nan, object_id=-1, duplicate_of=-1,
    )
    dups = dedup.duplicates[list(REJECT_COLUMNS)]
    rejects = pd.concat([cut_rejects, no_match, dups], ignore_index=True)
    rejects = rejects.astype({"object_id": "int64", "duplicate_of": "int64",
                              "reject_reason": object})
    rejects = rejects.sort_values("specObjID", kind="stable").reset_index(drop=True)

    cutflow = pd.concat([
        cuts.cutflow,
        pd.DataFrame({
            "step": ["crossmatch", "dedup_spectra", "dedup_dr9"],
            "rows": [int(is_match.sum()), dedup.n_sources, len(catalog)],
        }),
    ], ignore_index=True)
    if len(catalog) + len(rejects) != len(mpa):
        raise AssertionError("rows lost between input and catalogue + rejects")
    return CatalogBuild(catalog=catalog, cutflow=cutflow, rejects=rejects)


_SHARD_NAME = re.compile(r"shard-(\d+)\.parquet$")


def shard_index_from_path(path: str | os.PathLike) -> int:
    """Shard number of a contract path ``.../shard-003.parquet`` (3)."""
    m = _SHARD_NAME.search(Path(path).name)
    if not m:
        raise ValueError(f"not a shard table path (shard-NNN.parquet): {path}")
    return int(m.group(1))


def run_crossmatch(
    mpa_path: str | os.PathLike,
    sweep_list_path: str | os.PathLike,
    crossmatch_path: str | os.PathLike,
    cutflow_path: str | os.PathLike,
    rejects_path: str | os.PathLike,
    shard_paths: Sequence[str | os.PathLike],
    **params,
) -> CatalogBuild:
    """Read the Stage 1 inputs, run :func:`build_catalog`, write every output atomically.

    ``shard_paths`` must name exactly one table per shard ``0 .. n_shards - 1``; each
    gets the catalogue rows of its shard sorted by ``object_id`` (possibly none).
    ``params`` are the keyword arguments of :func:`build_catalog`.
    """
    by_shard = {shard_index_from_path(p): p for p in shard_paths}
    if sorted(by_shard) != list(range(params["n_shards"])):
        raise ValueError(
            f"shard outputs {sorted(by_shard)} do not match config 'shards' = "
            f"{params['n_shards']}"
        )
    mpa = read_parquet(mpa_path)
    result = build_catalog(mpa, read_sweep_list(sweep_list_path), source=str(mpa_path),
                           **params)
    table = pa.Table.from_pandas(result.catalog, preserve_index=False)
    write_parquet(table, crossmatch_path)
    shard_column = table.column("shard")
    for shard, path in by_shard.items():
        write_parquet(table.filter(pc.equal(shard_column, shard)), path)
    write_parquet(result.rejects, rejects_path)
    with atomic_path(cutflow_path) as tmp:
        result.cutflow.to_csv(tmp, index=False)
    reasons = result.rejects["reject_reason"].value_counts().to_dict()
    log.info("kept %d galaxies from %d MPA-JHU rows; rejected by reason: %s",
             len(result.catalog), len(mpa), reasons)
    for step, rows in result.cutflow.itertuples(index=False):
        log.info("cut-flow %-16s %d", step, rows)
    return result
