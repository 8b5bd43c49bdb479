"""Catalogue-feature targets (Sigma_SFR): the DR9 columns of the matched targets and
their redshift turned into the training's feature sequence, with the training's reject
reason (``nonfinite_<feature>``) where a feature cannot be computed."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galstar.io import read_parquet
from galstar.training.data import ArraySource, Split

__all__ = ["load_feature_split"]


def load_feature_split(catalogs: Sequence[str | os.PathLike], features: Sequence[str],
                       targets: Sequence[str]) -> tuple[Split, pd.DataFrame]:
    """The matched targets with finite features as one split (input ``features``,
    (n, L, 1) as in training), and per object its features and reject reason."""
    from galstar.features.photometry import feature_reject_reason, feature_table
    from galstar.features.sequence import to_sequence

    table = pd.concat([read_parquet(p) for p in catalogs], ignore_index=True)
    feats = feature_table(table, list(features), source=str(catalogs[0])).reset_index(drop=True)
    stage = pd.concat([table[["object_id"]].reset_index(drop=True), feats], axis=1)
    stage["reject_reason"] = feature_reject_reason(feats).to_numpy(dtype=object)
    stage["kept"] = stage["reject_reason"] == ""
    kept = stage[stage["kept"].to_numpy(dtype=bool)].reset_index(drop=True)
    x = to_sequence(kept[list(features)].to_numpy())
    labels = np.full((len(kept), len(targets)), np.nan)
    return Split({"features": ArraySource(x)}, labels, kept, tuple(targets)), stage
