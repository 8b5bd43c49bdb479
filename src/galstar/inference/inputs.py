"""Prepared targets read back as one split of model inputs (no labels: NaN), the same
named inputs the method's own loader gives the model: GalEffNet ``image`` (and
``redshift``) from the preprocessed target shards, stellar ``<arm>`` spectra from the
observed chain, Sigma_SFR ``features`` from the matched DR9 rows and the redshift."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from galstar.io import load_npy, read_parquet
from galstar.training.data import ArraySource, ShardSource, Split

__all__ = ["load_target_split", "load_spectrum_split", "load_feature_split"]


def load_target_split(tables: Sequence[str | os.PathLike], images: Sequence[str | os.PathLike],
                      targets: Sequence[str], with_redshift: bool = False) -> Split:
    """The kept objects of the preprocessed target shards as one split (no labels:
    NaN), with input ``image`` (and ``redshift``), in shard order."""
    frames, shard_ids, rows, loaded = [], [], [], []
    for s, (tpath, ipath) in enumerate(zip(tables, images, strict=True)):
        table = read_parquet(tpath)
        array = load_npy(ipath)
        kept = table["kept"].to_numpy(dtype=bool)
        if array.shape[0] != kept.sum():
            raise ValueError(f"{ipath}: {array.shape[0]} images for the {kept.sum()} kept "
                             f"objects of {tpath}")
        sel = table[kept]
        frames.append(sel)
        shard_ids.append(np.full(len(sel), s, dtype=np.int32))
        rows.append(sel["row"].to_numpy(dtype=np.int64))
        loaded.append(array)
    table = pd.concat(frames, ignore_index=True)
    inputs = {"image": ShardSource(loaded, np.concatenate(shard_ids), np.concatenate(rows))}
    if with_redshift:
        z = table["z"].to_numpy(np.float32)[:, None]
        inputs["redshift"] = ArraySource(z)
    labels = np.full((len(table), len(targets)), np.nan)
    return Split(inputs, labels, table, tuple(targets))


def load_spectrum_split(observed: Mapping[str, tuple[str, str]], targets: Sequence[str]
                        ) -> tuple[Split, pd.DataFrame]:
    """The kept spectra of each arm as one split, keyed by arm.

    Parameters
    ----------
    observed : mapping
        Arm -> (table path, array path) of the prepared arm.

    Returns
    -------
    split : Split
        One object per distinct usable file kept by the chain (inputs (n, L, 1) per arm).
    prepared : pandas.DataFrame
        Per distinct file (``path``): karmn, kept, reject_reason, row and the chain's
        flags (filled_fraction, n_gaps, sg_window, sg_polyorder), for every arm.
    """
    if len(observed) != 1:
        raise ValueError("predicting for targets supports single-arm stellar models; "
                         f"this model reads arms {sorted(observed)}")
    (arm, (table_path, array_path)), = observed.items()
    prepared = read_parquet(table_path).rename(columns={"source": "path"})
    array = np.load(array_path, mmap_mode="r", allow_pickle=False)
    kept = prepared[prepared["kept"].to_numpy(dtype=bool)].reset_index(drop=True)
    x = np.asarray(array[kept["row"].to_numpy(dtype=np.int64)])[:, :, None]
    labels = np.full((len(kept), len(targets)), np.nan)
    table = kept.assign(object_id=np.arange(len(kept), dtype=np.int64), split="target")
    return Split({arm: ArraySource(x)}, labels, table, tuple(targets)), prepared


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
