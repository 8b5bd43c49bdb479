"""Stellar parameters of M dwarfs from CARMENES spectra (M.Tech thesis 2025): experiments,
splits, models and the thesis's Table 6.1.

Each experiment names a model (``starnet`` | ``vgg1d``), its targets (of Teff, log g,
[M/H]), an arm (``vis``, ``nir`` or ``fusion`` = both as two branches) and a regime:
``synthetic`` (a: train and validate on the degraded grid, test on every observed
star), ``observed`` (b: ``folds``-fold cross-validation on the observed stars) or
``finetune`` (c: the folds of b, each starting from a synthetic model, ``init_from``).
Every regime is tested on the same stars (those with all three labels and the arm's
spectra kept), so their rows of the table compare like for like.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar import paths
from galstar.evaluation.metrics import regression_metrics
from galstar.training.experiments import resolve_experiments

__all__ = ["calibration_split", "config_problems", "NAME", "ARMS", "LABELS", "REGIMES",
           "TARGET_SETS", "SAMPLE",
           "OBSERVED_TABLE", "OBSERVED_ARRAY", "GRID_TABLE", "GRID_ARRAY", "REJECTS", "experiments",
           "label_columns", "inputs", "baseline_inputs", "baseline_table", "load_split",
           "model_builder", "experiment_arms", "target_set", "thesis_table", "gap_table",
           "final_targets", "TABLE_COLUMNS", "summarise", "model_settings"]

NAME = "stellar"
ARMS = ("vis", "nir")
LABELS = ("teff", "logg", "mh")
#: Regime key -> the thesis's letter (issue 12): a, b, c.
REGIMES = {"synthetic": "a", "observed": "b", "finetune": "c"}
#: Short names of the target sets (the thesis's T, TG, TGM).
TARGET_SETS = {("teff",): "T", ("teff", "logg"): "TG", ("teff", "logg", "mh"): "TGM"}
UNITS = {"teff": "K", "logg": "dex", "mh": "dex"}

_ROOT = paths.fill(paths.METHOD, method=NAME)
SAMPLE = f"{_ROOT}/sample.parquet"
REJECTS = f"{_ROOT}/rejects.csv"
OBSERVED_TABLE = f"{_ROOT}/observed/{{arm}}.parquet"
OBSERVED_ARRAY = f"{_ROOT}/observed/{{arm}}.npy"
GRID_TABLE = f"{_ROOT}/grid/{{arm}}.parquet"
GRID_ARRAY = f"{_ROOT}/grid/{{arm}}.npy"

REQUIRED = ("model", "targets", "arm", "regime", "epochs", "batch_size", "learning_rate")
MODEL_OPTIONS = {
    "starnet": ("filters", "kernel_size", "pool_size", "dense_units"),
    "vgg1d": ("widths", "kernel_size", "pool_size", "dense_units"),
}


def _fill(template: str, arm: str) -> str:
    return paths.fill(template, arm=arm)


def experiments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every stellar experiment, defaults merged, folds expanded, regimes checked."""
    found = resolve_experiments(config, NAME)
    for name, exp in found.items():
        where = f"config stellar.experiments.{exp.get('cv_group') or name}"
        missing = [k for k in REQUIRED if k not in exp]
        if missing:
            raise ValueError(f"{where}: missing keys {missing}")
        targets = tuple(exp["targets"])
        if not targets or len(set(targets)) != len(targets) or set(targets) - set(LABELS):
            raise ValueError(f"{where}.targets: a non-empty subset of {list(LABELS)}, "
                             f"got {list(targets)}")
        regime = exp["regime"]
        if regime not in REGIMES:
            raise ValueError(f"{where}.regime: one of {list(REGIMES)}, got {regime!r}")
        if regime == "synthetic" and exp.get("cv_group"):
            raise ValueError(f"{where}: the synthetic regime trains on the grid; folds apply "
                             "to the observed stars (regimes observed, finetune)")
        if regime != "synthetic" and not exp.get("cv_group"):
            raise ValueError(f"{where}: regime {regime} needs folds (>= 2)")
        if (regime == "finetune") != bool(exp.get("init_from")):
            raise ValueError(f"{where}: init_from is set for regime finetune, and only for it")
        if regime == "finetune":
            source = found[exp["init_from"]]
            if tuple(source["targets"]) != targets or source["arm"] != exp["arm"] \
                    or source["model"] != exp["model"]:
                raise ValueError(f"{where}.init_from: '{exp['init_from']}' must have the same "
                                 "model, arm and targets")
        exp["fold_seed"] = int(config.get("seed", 0))  # the fold assignment
    return found


def calibration_split(experiment: Mapping[str, Any]) -> str:
    """Where the intervals of ``experiment`` are calibrated: a synthetic-regime model's
    validation split is grid spectra, which never represent the observed test stars, so
    it is calibrated leave-one-out on the observed stars (``loo``); the others on their
    observed validation stars (``val``)."""
    return "loo" if experiment.get("regime") == "synthetic" else "val"


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Cross-field checks of the section (the mock's options and the shapes it writes
    are checked by :mod:`galstar.config_checks`, which may read the mock's settings)."""
    problems = []
    for arm, arm_cfg in ((config.get(NAME) or {}).get("arms") or {}).items():
        grid = arm_cfg.get("grid") or {}
        if grid.get("start", 0) >= grid.get("stop", 1):
            problems.append(f"stellar.arms.{arm}.grid: start must be below stop, got {grid}")
    return problems


def experiment_arms(experiment: Mapping[str, Any]) -> list[str]:
    """The arms an experiment reads (``fusion``: both)."""
    return list(ARMS) if experiment["arm"] == "fusion" else [str(experiment["arm"])]


def target_set(targets: Sequence[str]) -> str:
    """The thesis's name of a target set (T, TG, TGM) or the targets joined by ``+``."""
    return TARGET_SETS.get(tuple(targets), "+".join(targets))


def label_columns(found: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """All label columns (the method has no catalogue baselines)."""
    return LABELS


def inputs(experiment: Mapping[str, Any], shards: Sequence[str]) -> dict[str, list[str]]:
    """The sample and each arm's observed arrays; the grid too for the synthetic regime."""
    files = {"sample": [SAMPLE]}
    for arm in experiment_arms(experiment):
        files[f"observed_{arm}"] = [_fill(OBSERVED_ARRAY, arm)]
        if experiment["regime"] == "synthetic":
            files[f"grid_{arm}"] = [_fill(GRID_ARRAY, arm)]
            files[f"grid_{arm}_table"] = [_fill(GRID_TABLE, arm)]
    return files


def baseline_inputs(shards: Sequence[str]) -> dict[str, list[str]]:
    """The sample (baselines would read it; none are defined)."""
    return {"sample": [SAMPLE]}


def baseline_table(files: Mapping[str, Sequence[str | os.PathLike]],
                   label_cols: Sequence[str]) -> pd.DataFrame:
    """The stars with usable labels (no spectrum features: no tabular baseline)."""
    from galstar.io import read_parquet

    sample = read_parquet(files["sample"][0])
    return sample[sample["label_reason"] == ""].reset_index(drop=True)


def _observed_rows(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any]
                   ) -> pd.DataFrame:
    """Stars with all labels and every arm kept, with their fold (if the experiment has
    folds) assigned over all labelled stars, so that arms and regimes share folds."""
    from galstar.io import read_parquet
    from galstar.training.folds import assign_folds

    sample = read_parquet(files["sample"][0])
    labelled = sample[sample["label_reason"] == ""].reset_index(drop=True)
    if experiment.get("folds"):
        labelled["fold"] = assign_folds(len(labelled), int(experiment["folds"]),
                                        int(experiment.get("fold_seed", 0)),
                                        order=np.argsort(labelled["teff"].to_numpy(),
                                                         kind="stable"))
    ok = np.ones(len(labelled), dtype=bool)
    for arm in experiment_arms(experiment):
        ok &= labelled[f"{arm}_row"].to_numpy() >= 0
    return labelled[ok].reset_index(drop=True)


def _grid_rows(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any]
               ) -> pd.DataFrame:
    """Grid spectra kept in every arm, with a node-level train / val split."""
    from galstar.io import read_parquet

    arms = experiment_arms(experiment)
    tables = [read_parquet(files[f"grid_{arm}_table"][0]) for arm in arms]
    table = tables[0].copy()
    for other, arm in zip(tables[1:], arms[1:], strict=True):
        if len(other) != len(table) or not (other["node"].to_numpy()
                                            == table["node"].to_numpy()).all():
            raise ValueError(f"{files[f'grid_{arm}_table'][0]}: grid rows differ between "
                             "the arms (rebuild the grid tables)")
        table["kept"] &= other["kept"].to_numpy()
    table["row"] = np.arange(len(table))
    nodes = np.unique(table["node"].to_numpy())
    n_val = max(1, int(round(float(experiment.get("val_fraction", 0.15)) * len(nodes))))
    rng = np.random.default_rng([int(experiment.get("fold_seed", 0)), 6060])
    val_nodes = rng.permutation(nodes)[:n_val]
    table["split"] = np.where(table["node"].isin(val_nodes), "val", "train")
    table["object_id"] = (table["row"] + _grid_offset()).astype(np.int64)
    return table[table["kept"].to_numpy(dtype=bool)].reset_index(drop=True)


def _grid_offset() -> int:
    from galstar.methods.stellar_data import GRID_ID_OFFSET

    return GRID_ID_OFFSET


def load_split(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any],
               split: str, label_cols: Sequence[str] | None = None):
    """The objects of ``split`` for ``experiment``: one (n, L, 1) input per arm.

    synthetic: train and val are grid spectra (val: ``val_fraction`` of the grid nodes,
    every copy of a node on one side), test is every observed star. observed /
    finetune: fold ``fold`` is test, the next fold (its first ``val_share``) val, the
    rest train (:func:`galstar.training.folds.fold_split`).
    """
    from galstar.training.data import ArraySource, Split
    from galstar.training.folds import fold_split

    targets = tuple(label_cols or experiment["targets"])
    arms = experiment_arms(experiment)
    if experiment["regime"] == "synthetic" and split != "test":
        rows = _grid_rows(files, experiment)
        rows = rows[rows["split"] == split].reset_index(drop=True)
        source = {arm: files[f"grid_{arm}"][0] for arm in arms}
        index = {arm: rows["row"].to_numpy() for arm in arms}
    else:
        rows = _observed_rows(files, experiment)
        if experiment.get("cv_group"):
            rows["split"] = fold_split(rows["fold"], int(experiment["fold"]),
                                       int(experiment["folds"]),
                                       float(experiment.get("val_share", 1.0)))
        else:
            rows["split"] = "test"
        rows = rows[rows["split"] == split].reset_index(drop=True)
        source = {arm: files[f"observed_{arm}"][0] for arm in arms}
        index = {arm: rows[f"{arm}_row"].to_numpy() for arm in arms}
    arrays = {}
    for arm in arms:
        data = np.load(source[arm], mmap_mode="r", allow_pickle=False)
        arrays[arm] = ArraySource(np.asarray(data[index[arm]])[:, :, None])
    labels = rows[list(targets)].to_numpy(dtype=np.float64)
    if labels.size and not np.all(np.isfinite(labels)):
        raise ValueError(f"non-finite {list(targets)} among the {split} objects of "
                         f"experiment {experiment.get('name')}")
    return Split(arrays, labels.reshape(len(rows), len(targets)), rows, targets)


def model_builder(experiment: Mapping[str, Any], train, seed: int):
    """``(build(split) -> keras.Model, run_info)``: StarNet or the VGG-1D from the
    registry, one branch per arm, each input standardised inside the model by the
    training spectra's mean and variance (a warm start overwrites them with the
    source model's, as every other weight)."""
    from galstar.models import get_builder

    model = str(experiment["model"])
    options = {k: experiment[k] for k in MODEL_OPTIONS.get(model, ()) if k in experiment}
    stats = {}
    for arm, src in train.inputs.items():
        x = np.asarray(src.array, dtype=np.float64)
        stats[arm] = (float(x.mean()), float(max(x.var(), 1e-12)))

    def build(split):
        return get_builder(model)(split.input_shapes, len(split.targets),
                                  dropout=float(experiment.get("dropout", 0.0)),
                                  input_stats=stats, **options)

    return build, {"input_mean": {a: s[0] for a, s in stats.items()},
                   "input_std": {a: float(np.sqrt(s[1])) for a, s in stats.items()},
                   "input_shapes": {a: list(s) for a, s in train.input_shapes.items()}}


# ------------------------------------------------------------------------- tables

#: Columns of :func:`thesis_table`.
TABLE_COLUMNS = ("experiment", "model", "target_set", "arm", "regime", "parameter", "unit",
                 "N", "MAE", "MSE", "RMSE", "bias")


def _meta(name: str, exp: Mapping[str, Any]) -> dict[str, str]:
    return {"experiment": name, "model": str(exp["model"]),
            "target_set": target_set(exp["targets"]), "arm": str(exp["arm"]),
            "regime": f"{REGIMES[exp['regime']]} ({exp['regime']})"}


def thesis_table(predictions: Mapping[str, pd.DataFrame],
                 settings: Mapping[str, Mapping[str, Any]], split: str = "test"
                 ) -> pd.DataFrame:
    """The thesis's Table 6.1 for every model: one row per (model, parameter).

    Parameters
    ----------
    predictions : mapping of str to pandas.DataFrame
        Model name (an experiment or a cross-validation group) -> its predictions.
    settings : mapping
        Model name -> its settings (model, targets, arm, regime).

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`: MAE, MSE, RMSE and bias (mean of predicted - reference)
        on ``split`` in the parameter's unit; sorted by regime, arm, model, target set.
    """
    rows = []
    for name, frame in predictions.items():
        exp = settings[name]
        part = frame[frame["split"] == split]
        if part.empty:
            raise ValueError(f"model '{name}' has no '{split}' predictions")
        for t in exp["targets"]:
            m = regression_metrics(part[f"{t}_true"].to_numpy(), part[f"{t}_pred"].to_numpy())
            rows.append({**_meta(name, exp), "parameter": t, "unit": UNITS[t], "N": m["N"],
                         "MAE": m["MAE"], "MSE": m["RMSE"] ** 2, "RMSE": m["RMSE"],
                         "bias": m["bias"]})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    order = {"T": 0, "TG": 1, "TGM": 2}
    return table.sort_values(["regime", "arm", "model", "target_set", "parameter"],
                             key=lambda c: c.map(order).fillna(9) if c.name == "target_set"
                             else c, kind="stable").reset_index(drop=True)


def gap_table(table: pd.DataFrame) -> pd.DataFrame:
    """The synthetic gap per (model, target set, arm, parameter) with regimes a, b, c.

    Returns
    -------
    pandas.DataFrame
        model, target_set, arm, parameter, MAE_a, MAE_b, MAE_c (NaN when that regime
        was not run), gap (MAE_a - MAE_b) and closed (fraction of the gap regime c
        closes: (MAE_a - MAE_c) / (MAE_a - MAE_b); NaN without all three).
    """
    keys = ["model", "target_set", "arm", "parameter"]
    t = table.assign(letter=table["regime"].str[0])
    wide = t.pivot_table(index=keys, columns="letter", values="MAE", aggfunc="first")
    for letter in "abc":
        if letter not in wide:
            wide[letter] = np.nan
    out = wide[["a", "b", "c"]].rename(columns=lambda c: f"MAE_{c}").reset_index()
    out["gap"] = out["MAE_a"] - out["MAE_b"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["closed"] = (out["MAE_a"] - out["MAE_c"]) / out["gap"]
    out.columns.name = None
    return out


def summarise(predictions: Mapping[str, str | os.PathLike],
              settings: Mapping[str, Mapping[str, Any]], *, table_path: str | os.PathLike,
              gap_path: str | os.PathLike) -> pd.DataFrame:
    """Write the Table 6.1 analogue and the synthetic-gap table from predictions files."""
    from galstar.evaluation.evaluate import write_csv
    from galstar.io import read_parquet

    table = thesis_table({n: read_parquet(p) for n, p in predictions.items()}, settings)
    write_csv(table, table_path)
    write_csv(gap_table(table), gap_path)
    return table


def model_settings(found: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Evaluated model name -> the settings its table rows show (one per CV group)."""
    out = {}
    for name, exp in found.items():
        key = exp.get("cv_group") or name
        out[key] = {k: exp[k] for k in ("model", "targets", "arm", "regime")}
    return out


def final_targets(found: Mapping[str, Any]) -> list[str]:
    """The method's own outputs for ``rule all``: data products, tables, figures."""
    out = [SAMPLE, REJECTS]
    for arm in ARMS:
        out += [_fill(p, arm) for p in (OBSERVED_TABLE, OBSERVED_ARRAY, GRID_TABLE,
                                        GRID_ARRAY)]
    out += [paths.fill(paths.METHOD_TABLE, method=NAME, table=t)
            for t in ("table6_1", "synthetic_gap")]
    out += [paths.fill(paths.METHOD_FIGURE, method=NAME, figure=f)
            for f in ("synthetic_gap", "preprocessing")]
    out += [paths.fill(paths.FIGURE, method=NAME, name=n, figure="pred_vs_true")
            for n in model_settings(found)]
    return out
