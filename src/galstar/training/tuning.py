"""Hyperparameters by k-fold cross-validation on the training split, as an experiment key.

An experiment with ``tune: {grid: {key: [values, ...], ...}, folds: K}`` is trained once
per grid point and fold first (the *trials*: the grid point's values over the
experiment's, fold k of the training split validating, the other folds training); the
grid point with the lowest mean over folds of each trial's best validation loss is
chosen, and the experiment itself is then trained on the whole training split with the
chosen values (recorded in its ``config.yaml``, and with every trial's score in the
tuning table). Keras-free: the Snakefile expands the trials at parse time.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.training.folds import assign_folds

__all__ = ["RESERVED", "tuning_trials", "trial_split", "select", "apply_tuned"]

#: Keys a grid may not set: they fix the files, the schedule or the experiment's identity.
RESERVED = frozenset({"name", "method", "model", "inputs", "arm", "arms", "regime", "targets",
                      "threads", "gpu", "mem_mb", "runtime", "folds", "fold", "cv_group",
                      "init_from", "tune", "ablation"})


def _points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))]


def tuning_trials(experiments: Mapping[str, Mapping[str, Any]], where: str
                  ) -> dict[str, dict[str, dict[str, Any]]]:
    """Experiment -> its trials (trial name -> settings), for every experiment with ``tune``.

    A trial ``<name>-tune<g>-fold<k>`` is the experiment with grid point g's values,
    without ``tune``, and with ``tune_of``, ``tune_point``, ``tune_fold``, ``tune_folds``.

    Raises
    ------
    ValueError
        Naming ``<where>.<name>.tune``: an empty grid or value list, a reserved key, fewer
        than 2 folds, or ``tune`` on a fold or warm-started experiment.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, exp in experiments.items():
        spec = exp.get("tune")
        if not spec:
            continue
        key = f"config {where}.{exp.get('cv_group') or name}.tune"
        if exp.get("cv_group") or exp.get("init_from"):
            raise ValueError(f"{key}: tuning applies to a plain experiment (no folds, no "
                             "init_from)")
        grid = spec.get("grid") or {}
        if not grid or any(not isinstance(v, list) or not v for v in grid.values()):
            raise ValueError(f"{key}.grid: each key needs a non-empty list of values, got "
                             f"{grid!r}")
        reserved = sorted(set(grid) & RESERVED)
        if reserved:
            raise ValueError(f"{key}.grid: {reserved} cannot be tuned (they fix the inputs, "
                             "the model kind or the job's resources)")
        k = spec.get("folds", 3)
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"{key}.folds must be an integer >= 2, got {k!r}")
        base = {key_: v for key_, v in exp.items() if key_ != "tune"}
        trials = {}
        for g, point in enumerate(_points(grid)):
            for fold in range(k):
                trial = f"{name}-tune{g}-fold{fold}"
                trials[trial] = {**base, **point, "name": trial, "tune_of": name,
                                 "tune_point": g, "tune_fold": fold, "tune_folds": k}
        out[name] = trials
    return out


def trial_split(object_id: np.ndarray, experiment: Mapping[str, Any], seed: int
                ) -> np.ndarray:
    """``train`` / ``val`` of each training-split object for a trial: fold ``tune_fold``
    of ``tune_folds`` validates (folds seeded and assigned in object_id order, so the
    same object lands in the same fold whatever order the method loads them in)."""
    object_id = np.asarray(object_id)
    order = np.argsort(object_id, kind="stable")
    folds = assign_folds(len(object_id), int(experiment["tune_folds"]), seed, order=order)
    return np.where(folds == int(experiment["tune_fold"]), "val", "train")


def _best_val_loss(path: str | os.PathLike) -> float:
    try:
        history = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"cannot read trial history {path}: {err}") from err
    if "val_loss" not in history or not np.isfinite(history["val_loss"]).any():
        raise ValueError(f"trial history {path} has no finite val_loss")
    return float(np.nanmin(history["val_loss"].to_numpy(float)))


def select(histories: Mapping[str, str | os.PathLike],
           trials: Mapping[str, Mapping[str, Any]], grid: Mapping[str, Sequence[Any]]
           ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The tuning table and the chosen values from the trials' histories.

    Parameters
    ----------
    histories : mapping
        Trial name -> its ``history.csv`` (best ``val_loss`` over epochs is its score).
    trials : mapping
        Trial name -> settings (:func:`tuning_trials`).
    grid : mapping
        The experiment's ``tune.grid``.

    Returns
    -------
    table : pandas.DataFrame
        One row per grid point: ``point``, the grid keys, ``cv_loss_mean``,
        ``cv_loss_std``, ``n_folds``, the fold scores ``fold<k>``, ``chosen``.
    chosen : dict
        The chosen point's values (ties: the first point in grid order).
    """
    missing = sorted(set(trials) - set(histories))
    if missing:
        raise ValueError(f"no history for trial(s) {missing}")
    points = _points(grid)
    scores: dict[int, dict[int, float]] = {g: {} for g in range(len(points))}
    for name, trial in trials.items():
        scores[int(trial["tune_point"])][int(trial["tune_fold"])] = _best_val_loss(
            histories[name])
    rows = []
    for g, point in enumerate(points):
        s = np.array([scores[g][k] for k in sorted(scores[g])])
        rows.append({"point": g, **{k: json.dumps(v) if isinstance(v, list) else v
                                    for k, v in point.items()},
                     "cv_loss_mean": float(s.mean()), "cv_loss_std": float(s.std()),
                     "n_folds": len(s), **{f"fold{k}": scores[g][k] for k in sorted(scores[g])}})
    table = pd.DataFrame(rows)
    best = int(np.argmin(table["cv_loss_mean"].to_numpy()))
    table["chosen"] = table["point"] == best
    return table, dict(points[best])


def apply_tuned(experiment: Mapping[str, Any], tuned_path: str | os.PathLike
                ) -> dict[str, Any]:
    """``experiment`` with the chosen values of its tuning record (``tuned.json``) and
    ``tuned`` (the record's chosen values) added; ``tune`` stays as configured."""
    try:
        with open(tuned_path) as fh:
            record = json.load(fh)
        chosen = dict(record["chosen"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot read tuning record {tuned_path}: {err}") from err
    grid = (experiment.get("tune") or {}).get("grid") or {}
    stray = sorted(set(chosen) - set(grid))
    if stray:
        raise ValueError(f"{tuned_path}: chosen keys {stray} are not in the experiment's "
                         f"tune.grid {sorted(grid)}")
    return {**experiment, **chosen, "tuned": chosen}
