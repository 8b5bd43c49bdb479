"""File-level entry point of the preprocessing quality rule (scored against truth).

Re-renders the truth maps of a sample of downloaded cutouts through the mock cutout
service and scores the preprocessing on them (:mod:`galstar.scoring.quality`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.imaging.pipeline import PreprocessConfig
from galstar.imaging.shard import CutoutReadError, read_cutout
from galstar.io import atomic_path, read_parquet, write_parquet
from galstar.mock.cutouts import MockCutoutService
from galstar.scoring.quality import TruthCutout, score_cutouts, summarise_quality

__all__ = ["run_quality"]

log = logging.getLogger(__name__)


def _truth_maps(service: Any, ra: float, dec: float, size: int, pixscale: float
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Target and contaminant maps and the blend flag from the mock cutout service."""
    truth = service.truth_maps(ra, dec, size=size, pixscale=pixscale)
    if isinstance(truth, Mapping):
        target, contaminant, scalars = truth["target"], truth["contaminant"], truth
    else:
        target, contaminant, scalars = truth
    return (np.asarray(target, np.float64), np.asarray(contaminant, np.float64),
            bool(scalars["is_blend"]))


def run_quality(
    table_paths: Sequence[str | os.PathLike],
    manifest_paths: Sequence[str | os.PathLike],
    mock_root: str | os.PathLike,
    preprocess: Mapping[str, Any],
    quality_path: str | os.PathLike,
    scores_path: str | os.PathLike,
    max_cutouts: int = 600,
    seed: int = 0,
    size: int = 152,
    pixscale: float = 0.262,
    neighbour_paths: Sequence[str | os.PathLike] | None = None,
) -> pd.DataFrame:
    """Score a random sample of downloaded cutouts against the mock archive's truth.

    Scoring is not part of the pipeline: it re-renders the truth maps through the mock
    cutout service, so it only runs for ``archive: mock``. The cutouts are preprocessed
    as the shard rule does, with the shards' catalogue neighbours when
    ``neighbour_paths`` are given.

    Returns
    -------
    pandas.DataFrame
        The quality table written to ``quality_path`` (per-cutout scores go to
        ``scores_path``).
    """
    config = PreprocessConfig.from_mapping(preprocess)
    manifests = pd.concat([read_parquet(p) for p in manifest_paths], ignore_index=True)
    tables = pd.concat([read_parquet(p, columns=["object_id"]) for p in table_paths],
                       ignore_index=True)
    ok = manifests[(manifests["status"] == "ok")
                   & manifests["object_id"].isin(tables["object_id"])]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(ok), size=min(int(max_cutouts), len(ok)), replace=False))
    service = MockCutoutService(mock_root)
    groups: dict[int, pd.DataFrame] | None = None
    if neighbour_paths:
        table = pd.concat([read_parquet(p) for p in neighbour_paths], ignore_index=True)
        groups = dict(tuple(table.groupby("object_id", sort=False)))
        empty = table.iloc[:0]

    def cutouts():
        for i in pick:
            rec = ok.iloc[int(i)]
            try:
                cube = read_cutout(rec["path"])
            except CutoutReadError as err:
                log.warning("skipped in scoring: %s", err)
                continue
            target, contaminant, is_blend = _truth_maps(
                service, float(rec["ra"]), float(rec["dec"]), size, pixscale)
            neighbours = (None if groups is None
                          else groups.get(int(rec["object_id"]), empty))
            yield TruthCutout(int(rec["object_id"]), cube, target, contaminant, is_blend,
                              neighbours)

    scores = score_cutouts(cutouts(), config)
    quality = summarise_quality(scores)
    write_parquet(scores, scores_path)
    with atomic_path(quality_path) as tmp:
        quality.to_csv(tmp, index=False)
    log.info("quality on %d cutouts:\n%s", len(scores), quality.to_string(index=False))
    return quality
