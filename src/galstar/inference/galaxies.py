"""Galaxy targets: positions matched to their DR9 sources and sharded for the acquisition
and preprocessing rules (the data env: no Keras here; :mod:`.inputs` reads them back).

A target takes the identity and catalogue columns of its nearest DR9 sweep source
within the training cross-match radius, so its ``object_id`` is the one the training
sample uses (``in_training_sample``) and the preprocessing sees the same catalogue
columns as in training. Positions in no sweep box of the archive are
``outside_footprint``; inside one but with no source within the radius, ``no_dr9_source``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galstar.archives.legacysurvey import sweep_names_covering
from galstar.catalog.crossmatch import DR9_COLUMNS, match_streaming, read_sweep_list
from galstar.catalog.samples import object_id_from_dr9
from galstar.inference.targets import duplicate_of, read_positions
from galstar.io import write_parquet

__all__ = ["TARGET_COLUMNS", "match_targets", "write_target_catalog"]

log = logging.getLogger(__name__)

#: Columns of the per-run target table (one row per input row), before predictions.
TARGET_COLUMNS = ("input_row", "input_id", "ra", "dec", "z", "object_id", "shard",
                  "duplicate_of", "sep_arcsec", "reject_reason")


def match_targets(targets: pd.DataFrame, sweep_paths: Sequence[str], *, radius_arcsec: float,
                  chunk_rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``object_id``, ``sep_arcsec`` and the footprint rejects to ``targets``.

    ``targets`` is :func:`galstar.inference.targets.read_positions`'s table; rows that
    already have a reject reason are left unmatched.

    Returns
    -------
    targets : pandas.DataFrame
        The input table with object_id (-1 unmatched), sep_arcsec and reject_reason.
    sources : pandas.DataFrame
        The DR9 columns of each matched row (``input_row``, object_id, DR9_COLUMNS),
        with the sweeps' dtypes.
    """
    out = targets.copy()
    ok = (out["reject_reason"] == "").to_numpy()
    out["object_id"] = np.full(len(out), -1, dtype=np.int64)
    out["sep_arcsec"] = np.nan
    if not ok.any():
        return out, pd.DataFrame(columns=["input_row", "object_id", *DR9_COLUMNS])
    valid = out[ok]
    have = {os.path.basename(p) for p in sweep_paths}
    boxes = np.array([sweep_names_covering([r], [d])[0]
                      for r, d in zip(valid["ra"], valid["dec"], strict=True)], dtype=object)
    inside = np.isin(boxes, list(have))
    matched = match_streaming(valid[["ra", "dec"]].reset_index(drop=True), sweep_paths,
                              radius_arcsec, chunk_rows, DR9_COLUMNS)
    found = matched["matched"].to_numpy() & inside
    idx = np.flatnonzero(ok)
    reasons = out["reject_reason"].to_numpy(dtype=object).copy()
    reasons[idx[~inside]] = "outside_footprint: no DR9 sweep of the archive covers it"
    reasons[idx[inside & ~found]] = f"no_dr9_source: none within {radius_arcsec:g} arcsec"
    out["reject_reason"] = reasons
    sources = matched.loc[found, list(DR9_COLUMNS)].reset_index(drop=True)
    oid = object_id_from_dr9(sources["RELEASE"], sources["BRICKID"], sources["OBJID"])
    sources.insert(0, "object_id", oid.astype(np.int64))
    sources.insert(0, "input_row", out["input_row"].to_numpy()[idx[found]])
    out.loc[idx[found], "object_id"] = oid
    out.loc[idx[found], "sep_arcsec"] = matched.loc[found, "sep_arcsec"].to_numpy()
    return out, sources


def write_target_catalog(targets_path: str | os.PathLike, sweep_list: str | os.PathLike,
                         table_path: str | os.PathLike, shard_paths: Sequence[str],
                         *, radius_arcsec: float, chunk_rows: int,
                         need_redshift: bool = False) -> pd.DataFrame:
    """Read, validate and match a position list; write the run's target table and one
    catalogue shard per path of ``shard_paths`` (the distinct objects in input order, in
    contiguous chunks of equal size), in the cross-matched shards' format, for the
    cutout and preprocessing rules.

    Returns
    -------
    pandas.DataFrame
        The target table (:data:`TARGET_COLUMNS`), one row per input row; a repeated
        object is kept once in the shards (``duplicate_of``: its first input row).
    """
    table, sources = match_targets(read_positions(targets_path, need_redshift),
                                   read_sweep_list(sweep_list), radius_arcsec=radius_arcsec,
                                   chunk_rows=chunk_rows)
    usable = (table["reject_reason"] == "").to_numpy()
    table["duplicate_of"] = duplicate_of(table["object_id"].tolist(), usable)
    unique = usable & (table["duplicate_of"] < 0).to_numpy()
    rank = np.cumsum(unique) - 1  # rank among the distinct objects, in input order
    n_distinct = max(1, int(unique.sum()))
    shard = np.where(unique, rank * len(shard_paths) // n_distinct, -1)
    first = table["duplicate_of"].to_numpy()
    shard = np.where(first >= 0, shard[np.maximum(first, 0)], shard)
    table["shard"] = shard.astype(np.int64)
    table = table[list(TARGET_COLUMNS)]
    sources = sources.merge(table[["input_row", "shard", "z", "sep_arcsec"]], on="input_row")
    sources = sources[sources["input_row"].isin(table.loc[unique, "input_row"])]
    for s, path in enumerate(shard_paths):
        rows = sources[sources["shard"] == s].drop(columns=["input_row", "shard"])
        rows.insert(1, "shard", np.int16(s))
        rows.insert(2, "split", "target")
        write_parquet(rows.reset_index(drop=True), path)
    write_parquet(table, table_path)
    counts = table["reject_reason"].str.split(":").str[0].replace("", "matched")
    log.info("%d targets, %d distinct DR9 objects in %d shards; %s", len(table),
             int(unique.sum()), len(shard_paths), counts.value_counts().to_dict())
    return table
