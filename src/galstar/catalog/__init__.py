"""Selection cuts, streamed cross-match, de-duplication, shards and splits (Stage 2)."""

from galstar.catalog.build import CatalogBuild, build_catalog, run_crossmatch
from galstar.catalog.crossmatch import match_streaming, score_matches
from galstar.catalog.cuts import CUT_NAMES, apply_cuts, paper_cuts
from galstar.catalog.samples import (
    assign_shards,
    assign_splits,
    deduplicate,
    object_id_from_dr9,
)

__all__ = [
    "CUT_NAMES",
    "CatalogBuild",
    "apply_cuts",
    "assign_shards",
    "assign_splits",
    "build_catalog",
    "deduplicate",
    "match_streaming",
    "object_id_from_dr9",
    "paper_cuts",
    "run_crossmatch",
    "score_matches",
]
