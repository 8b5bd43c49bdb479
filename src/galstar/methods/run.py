"""Train and predict any registered method's experiment (what the generic rules call).

The method supplies its splits and its model builder; the stage packages do the rest
(:func:`galstar.training.fit.train_model`, :func:`galstar.evaluation.predict.predict_model`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.methods import get_method

__all__ = ["train_experiment", "predict_experiment", "run_baseline"]

Files = Mapping[str, Sequence[str]]


def _method(method: str):
    """The method's module, after the modules registering its custom keras layers
    (``KERAS_MODULES``), which a saved model needs before it can be loaded."""
    module = get_method(method)
    for name in getattr(module, "KERAS_MODULES", ()):
        importlib.import_module(name)
    return module


def train_experiment(method: str, files: Files, experiment: Mapping[str, Any], *, seed: int,
                     outputs: Mapping[str, str | os.PathLike], verbose: int = 0
                     ) -> dict[str, Any]:
    """Train ``experiment`` of ``method`` and write ``outputs`` (model_path, scaler_path,
    history_path, config_path). ``files`` may hold ``init_model`` and ``init_scaler``
    (experiment key ``init_from``: a warm start) and ``tuned`` (key ``tune``: the chosen
    values); the rest are the method's inputs. A tuning trial (``tune_of``) trains and
    validates on its folds of the training split
    (:func:`galstar.training.tuning.trial_split`)."""
    from galstar.training.fit import train_model
    from galstar.training.tuning import apply_tuned, trial_split

    module = _method(method)
    files = dict(files)
    init = {f"{key}_path": files.pop(key)[0] for key in ("init_model", "init_scaler")
            if files.get(key)}
    if files.get("tuned"):
        experiment = apply_tuned(experiment, files.pop("tuned")[0])
    train = module.load_split(files, experiment, "train")
    if experiment.get("tune_of"):
        part = trial_split(train.table["object_id"].to_numpy(), experiment, seed)
        train, val = (train.subset(np.flatnonzero(part == s)) for s in ("train", "val"))
    else:
        val = module.load_split(files, experiment, "val")
    build, info = module.model_builder(experiment, train, seed)
    return train_model(build, train, val, experiment, seed=seed, run_info=info,
                       verbose=verbose, **init, **outputs)


def predict_experiment(method: str, files: Files, experiment: Mapping[str, Any], *,
                       model_path: str | os.PathLike, scaler_path: str | os.PathLike,
                       seed: int, **options) -> pd.DataFrame:
    """Predictions of a trained experiment on the validation and test splits, in the
    predictions contract (``options``: mc_passes, batch_size, clip, tta); ``files`` may
    hold ``tuned`` (the chosen values it was trained with)."""
    from galstar.evaluation.predict import predict_model
    from galstar.training.tuning import apply_tuned

    module = _method(method)
    files = dict(files)
    if files.get("tuned"):
        experiment = apply_tuned(experiment, files.pop("tuned")[0])

    def load(split, label_columns):
        return module.load_split(files, experiment, split, label_columns)

    return predict_model(model_path, scaler_path, load, seed=seed, **options)


def run_baseline(method: str, files: Files, baseline: Mapping[str, Any], *,
                 label_columns: Sequence[str], seed: int) -> pd.DataFrame:
    """Predictions of one catalogue baseline of ``method`` (on its kept objects)."""
    from galstar.evaluation.baselines import tabular_baseline
    from galstar.features.photometry import feature_table

    module = get_method(method)
    table = module.baseline_table(files, label_columns)
    return tabular_baseline(table, label_columns, baseline, seed=seed,
                            source=f"config {method}.baselines",
                            features_of=getattr(module, "baseline_features", feature_table))
