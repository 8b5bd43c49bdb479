"""Shard-level summaries of the preprocessing: reject counts and figure samples."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galstar.imaging.figures import save_steps_figure
from galstar.imaging.pipeline import PreprocessConfig
from galstar.imaging.shard import CutoutReadError, read_cutout
from galstar.io import atomic_path, read_parquet

__all__ = ["reject_counts", "write_reject_counts", "write_steps_figure"]


def reject_counts(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Objects per outcome over all shards.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        Preprocess tables (``reject_reason`` column, None when kept).

    Returns
    -------
    pandas.DataFrame
        Columns reason (``kept`` for kept objects), count, fraction; kept first, then
        by decreasing count.
    """
    reasons = pd.concat([t["reject_reason"] for t in tables], ignore_index=True)
    counts = reasons.fillna("kept").replace("", "kept").value_counts()
    out = counts.rename_axis("reason").reset_index(name="count")
    out["order"] = (out["reason"] != "kept").astype(int)
    out = out.sort_values(["order", "count", "reason"], ascending=[True, False, True])
    out = out.drop(columns="order").reset_index(drop=True)
    total = int(out["count"].sum())
    out["fraction"] = out["count"] / total if total else 0.0
    return out


def write_reject_counts(table_paths: Sequence[str | os.PathLike], path: str | os.PathLike
                        ) -> pd.DataFrame:
    """Read the shard tables and write :func:`reject_counts` as CSV, atomically."""
    counts = reject_counts([read_parquet(p, columns=["reject_reason"]) for p in table_paths])
    with atomic_path(path) as tmp:
        counts.to_csv(tmp, index=False)
    return counts


def write_steps_figure(
    manifest_paths: Sequence[str | os.PathLike],
    config: PreprocessConfig,
    path: str | os.PathLike,
    n_objects: int = 6,
    seed: int = 0,
) -> list[int]:
    """Steps figure for a few random downloaded cutouts of the shards.

    Parameters
    ----------
    manifest_paths : sequence of path
        Cutout manifests (object_id, path, status).
    config : PreprocessConfig
        Settings.
    path : path
        PNG to write.
    n_objects : int
        Rows of the figure.
    seed : int
        Seed of the random choice.

    Returns
    -------
    list of int
        The object ids shown.
    """
    manifests = pd.concat([read_parquet(p) for p in manifest_paths], ignore_index=True)
    ok = manifests[manifests["status"] == "ok"]
    rng = np.random.default_rng(seed)
    take = rng.choice(len(ok), size=min(n_objects, len(ok)), replace=False) if len(ok) else []
    cubes, labels, ids = [], [], []
    for i in sorted(take):
        rec = ok.iloc[int(i)]
        try:
            cubes.append(read_cutout(rec["path"]))
        except CutoutReadError:
            continue
        labels.append(str(rec["object_id"]))
        ids.append(int(rec["object_id"]))
    save_steps_figure(cubes, labels, config, path)
    return ids
