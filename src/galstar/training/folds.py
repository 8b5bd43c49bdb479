"""K-fold cross-validation and warm starts as experiment keys, for every method.

An experiment with ``folds: K`` (K >= 2) becomes K experiments ``<name>-fold<k>``
(k = 0..K-1), each with ``fold: k`` and ``cv_group: <name>``; the method's loader puts
the objects of fold k in ``test``, those of fold (k + 1) mod K (or a share of them) in
``val`` and the rest in ``train`` (:func:`fold_split`), so that the gathered predictions
(:func:`gather_folds`, saved as ``<name>``) hold every object once in ``test`` and at
most once in ``val``. ``init_from: <experiment>`` starts training from that experiment's weights
and label scaler (the rule makes training depend on its model); a fold of a group that
starts from another group with the same K starts from the matching fold.
Keras-free: the Snakefile resolves experiments at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["expand_folds", "fold_groups", "fold_split", "assign_folds", "gather_folds",
           "fold_name"]


def fold_name(group: str, fold: int) -> str:
    """The experiment name of fold ``fold`` of ``group``."""
    return f"{group}-fold{int(fold)}"


def expand_folds(experiments: Mapping[str, Mapping[str, Any]], where: str
                 ) -> dict[str, dict[str, Any]]:
    """Replace every ``folds: K`` experiment by its K fold experiments; check ``init_from``.

    Parameters
    ----------
    experiments : mapping
        Resolved experiments (name -> settings).
    where : str
        Config key named in errors (``<method>.experiments``).

    Returns
    -------
    dict
        Experiments without ``folds`` groups, folds in their place (in order), each
        fold with ``fold``, ``folds`` and ``cv_group``; ``init_from`` resolved to an
        experiment name.

    Raises
    ------
    ValueError
        ``folds`` not an integer >= 2, ``init_from`` naming no experiment or itself.
    """
    out: dict[str, dict[str, Any]] = {}
    groups: dict[str, int] = {}
    for name, exp in experiments.items():
        k = exp.get("folds")
        if k is None or k is False:
            out[name] = dict(exp)
            continue
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"config {where}.{name}.folds must be an integer >= 2, got {k!r}")
        groups[name] = k
        for fold in range(k):
            out[fold_name(name, fold)] = {**exp, "name": fold_name(name, fold), "fold": fold,
                                          "folds": k, "cv_group": name}
    for name, exp in out.items():
        source = exp.get("init_from")
        if not source:
            continue
        group = exp.get("cv_group") or name
        if source == group or source == name:
            raise ValueError(f"config {where}.{group}.init_from cannot name itself")
        if source in groups:
            if groups[source] != exp.get("folds"):
                raise ValueError(f"config {where}.{group}.init_from: '{source}' has "
                                 f"{groups[source]} folds; start from a plain experiment or "
                                 "a group with the same number of folds")
            exp["init_from"] = fold_name(source, exp["fold"])
        elif source not in out:
            raise ValueError(f"config {where}.{group}.init_from: no experiment '{source}' "
                             f"(known: {sorted(set(out) | set(groups))})")
        if out[exp["init_from"]].get("init_from"):
            raise ValueError(f"config {where}.{group}.init_from: '{source}' itself starts "
                             "from another experiment; chains are not supported")
    return out


def fold_groups(experiments: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Cross-validation group -> its fold experiments, in fold order."""
    groups: dict[str, list[str]] = {}
    for name, exp in experiments.items():
        if exp.get("cv_group"):
            groups.setdefault(str(exp["cv_group"]), []).append(name)
    return groups


def assign_folds(n: int, k: int, seed: int, order: np.ndarray | None = None) -> np.ndarray:
    """A fold 0..k-1 for each of ``n`` objects, balanced and seeded.

    With ``order`` (e.g. ``argsort`` of a label), consecutive blocks of k objects in
    that order each get a random permutation of the folds: every fold spans the label
    range (stratified), which matters for a few hundred objects.
    """
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    rng = np.random.default_rng([int(seed), 5150])
    order = rng.permutation(n) if order is None else np.asarray(order, dtype=np.int64)
    folds = np.empty(n, dtype=np.int64)
    for start in range(0, n, k):
        block = order[start:start + k]
        folds[block] = rng.permutation(k)[: len(block)]
    return folds


def fold_split(fold: np.ndarray, k: int, n_folds: int, val_share: float = 1.0) -> np.ndarray:
    """Split names of objects with folds ``fold`` for fold experiment ``k``: ``test``
    for fold k, ``val`` for the first ``val_share`` of fold (k + 1) mod K (in the given
    order; the rest of it trains), ``train`` otherwise.

    ``val_share < 1`` leaves more to train with few folds (K = 3, share 0.5: 50% train,
    17% val, 33% test); an object is still in ``val`` of at most one fold.
    """
    fold = np.asarray(fold, dtype=np.int64)
    if not 0 <= int(k) < int(n_folds):
        raise ValueError(f"fold {k} is not in 0..{n_folds - 1}")
    if not 0.0 < float(val_share) <= 1.0:
        raise ValueError(f"val_share must be in (0, 1], got {val_share}")
    out = np.full(fold.shape, "train", dtype=object)
    following = fold == (int(k) + 1) % int(n_folds)
    rank = np.cumsum(following) - 1
    n_val = int(np.ceil(float(val_share) * following.sum() - 1e-9))
    out[following & (rank < n_val)] = "val"
    out[fold == int(k)] = "test"
    return out


def gather_folds(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One predictions table from the folds' (fold name -> table), with a ``fold`` column.

    Raises
    ------
    ValueError
        If an object is in ``test`` (or ``val``) of two folds: the folds disagree on
        the assignment.
    """
    parts = [frame.assign(fold=i) for i, frame in enumerate(frames.values())]
    if not parts:
        raise ValueError("no fold predictions to gather")
    table = pd.concat(parts, ignore_index=True)
    twice = table.duplicated(["object_id", "split"], keep=False)
    if twice.any():
        first = table.loc[twice].iloc[0]
        raise ValueError(f"object {first['object_id']} is in '{first['split']}' of two folds")
    return table
