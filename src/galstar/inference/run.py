"""A prediction run end to end, from the prepared targets (what the targets_predict rule
calls): the model directory opened and checked against the run's preprocessing, the
objects predicted, the output table assembled and written."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.inference.model_dir import ModelDirectory
from galstar.inference.predict import predict_targets
from galstar.inference.preprocessing import check_preprocessing
from galstar.inference.table import assemble, write_table
from galstar.io import read_parquet

__all__ = ["GALAXY_FLAGS", "STELLAR_FLAGS", "open_checked", "predict_galaxy_targets",
           "predict_feature_targets", "predict_stellar_targets"]

log = logging.getLogger(__name__)

#: Preprocessing columns of the galaxy output table.
GALAXY_FLAGS = ("radius_arcsec", "blended", "catalog_contamination", "reject_detail")
#: Observed-chain columns of the stellar output table.
STELLAR_FLAGS = ("karmn", "filled_fraction", "n_gaps", "sg_window", "sg_polyorder")


def open_checked(model_dir: str | os.PathLike, preprocessing: Mapping[str, Any]
                 ) -> ModelDirectory:
    """The packaged model, its checksums verified and its preprocessing equal to the
    run's (:class:`~galstar.inference.preprocessing.PreprocessingMismatch` otherwise)."""
    model = ModelDirectory.open(model_dir)
    check_preprocessing(model.preprocessing, preprocessing, str(model_dir))
    return model


def _write(out: pd.DataFrame, model: ModelDirectory, paths: Mapping[str, str],
           targets_file: str) -> pd.DataFrame:
    write_table(out, paths["parquet"], paths["fits"], model, targets_file)
    reasons = out.loc[~out["predicted"], "reject_reason"].str.split(":").str[0]
    log.info("%s: %d of %d rows predicted; rejected: %s", model.name,
             int(out["predicted"].sum()), len(out), reasons.value_counts().to_dict())
    return out


def predict_galaxy_targets(targets_table: str | os.PathLike,
                           tables: Sequence[str | os.PathLike],
                           images: Sequence[str | os.PathLike], *,
                           model_dir: str | os.PathLike, preprocessing: Mapping[str, Any],
                           outputs: Mapping[str, str], targets_file: str) -> pd.DataFrame:
    """Predict the kept objects of the preprocessed target shards; write the table."""
    from galstar.inference.inputs import load_target_split

    model = open_checked(model_dir, preprocessing)
    targets = read_parquet(targets_table)
    with_z = bool(model.manifest["inputs"].get("with_redshift"))
    split = load_target_split(tables, images, model.targets, with_redshift=with_z)
    pred = predict_targets(model, split)
    pred.insert(0, "object_id", split.table["object_id"].to_numpy())
    stage = pd.concat([read_parquet(t) for t in tables], ignore_index=True)
    out = assemble(targets, "object_id", stage, pred, GALAXY_FLAGS, _in_training(targets, model))
    return _write(out, model, outputs, targets_file)


def _in_training(targets: pd.DataFrame, model: ModelDirectory) -> np.ndarray:
    trained = model.training_sample()["object_id"]
    return (targets["object_id"].isin(trained) & (targets["object_id"] >= 0)).to_numpy()


def predict_feature_targets(targets_table: str | os.PathLike,
                            catalogs: Sequence[str | os.PathLike], *,
                            model_dir: str | os.PathLike, preprocessing: Mapping[str, Any],
                            outputs: Mapping[str, str], targets_file: str) -> pd.DataFrame:
    """Predict the matched targets from their catalogue features; write the table."""
    from galstar.inference.inputs import load_feature_split

    model = open_checked(model_dir, preprocessing)
    targets = read_parquet(targets_table)
    features = model.manifest["inputs"]["features"]
    split, stage = load_feature_split(catalogs, features, model.targets)
    pred = predict_targets(model, split)
    pred.insert(0, "object_id", split.table["object_id"].to_numpy())
    out = assemble(targets, "object_id", stage, pred, features, _in_training(targets, model))
    return _write(out, model, outputs, targets_file)


def predict_stellar_targets(targets_table: str | os.PathLike,
                            observed: Mapping[str, tuple[str, str]], *,
                            model_dir: str | os.PathLike, preprocessing: Mapping[str, Any],
                            outputs: Mapping[str, str], targets_file: str) -> pd.DataFrame:
    """Predict the spectra the observed chain kept; write the table."""
    from galstar.inference.inputs import load_spectrum_split

    model = open_checked(model_dir, preprocessing)
    targets = read_parquet(targets_table)
    split, prepared = load_spectrum_split(observed, model.targets)
    pred = predict_targets(model, split)
    pred.insert(0, "path", split.table["path"].to_numpy())
    stage = prepared.assign(reject_reason=prepared["reject_reason"].fillna(""))
    trained = model.training_sample()
    names = set(trained["karmn"]) if "karmn" in trained.columns else set()
    karmn = targets["path"].map(stage.drop_duplicates("path").set_index("path")["karmn"])
    in_training = karmn.isin(names).to_numpy() if names else np.zeros(len(targets), bool)
    out = assemble(targets, "path", stage, pred, STELLAR_FLAGS, in_training)
    return _write(out, model, outputs, targets_file)
