"""Multi-modal SDSS (seed 001): z and the eight DR7 total-SFR statistics from ugriz
images and spectra, alone, fused early (one dual-stream network) and late (stacking).

This module is the method protocol (experiments, inputs, splits, model builders) on
the SDSS contract files (docs/contracts.md, multimodal); the features and baselines,
the late fusion, the active-learning loop, the results table and the figures live in
the ``multimodal_*`` modules beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar import paths
from galstar.training.experiments import resolve_experiments

__all__ = ["NAME", "TARGETS", "SFR_STATISTICS", "CONTRACT_COLUMNS", "MODEL_INPUTS",
           "KERAS_MODULES", "contract_path", "experiments", "config_problems",
           "label_columns", "inputs", "sample_table", "read_tables", "load_split", "model_builder",
           "baseline_inputs", "baseline_table", "final_targets", "late_fusion_names",
           "tabular_names", "result_names"]

NAME = "multimodal"
#: The DR7 total-SFR PDF summaries (log10 SFR [M_sun/yr]; entropy of the PDF).
SFR_STATISTICS = ("sfr_tot_avg", "sfr_tot_entropy", "sfr_tot_median", "sfr_tot_mode",
                  "sfr_tot_p16", "sfr_tot_p2p5", "sfr_tot_p84", "sfr_tot_p97p5")
#: Every model predicts these, in this order (z: spectroscopic redshift).
TARGETS = ("z", *SFR_STATISTICS)
#: Columns of ``SDSS_TABLE`` the method reads (the data contract).
CONTRACT_COLUMNS = ("object_id", "split", "shard", "spectrum_row", "image_row", "kept",
                    *TARGETS)
#: Model (config ``model``) -> the named inputs it reads.
MODEL_INPUTS = {"image_cnn": ("image",), "spectrum_dense": ("spectrum",),
                "spectrum_cnn1d": ("spectrum",), "early_fusion": ("image", "spectrum")}
#: Modules registering custom layers, imported before a saved model is loaded.
KERAS_MODULES = ("galstar.models.fusion",)

_TENSORS = {"image": "SDSS_IMAGE_TENSOR", "spectrum": "SDSS_SPECTRA_TENSOR"}
_NDIM = {"image": 4, "spectrum": 3}
REQUIRED = ("model", "epochs", "batch_size", "learning_rate")


def contract_path(name: str, **values: object) -> str:
    """The contract template ``name`` of :mod:`galstar.paths`, wildcards filled."""
    return paths.fill(getattr(paths, name), **values)


def _section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get(NAME) or {}


def experiments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every network experiment, defaults merged; ``inputs`` (the modalities) added, and
    for spectrum experiments the SDSS spectrum grid (a grid change retrains them only)."""
    found = resolve_experiments(config, NAME)
    grid = (((config.get("galaxies") or {}).get("sdss") or {}).get("spectra") or {}).get("grid")
    for name, exp in found.items():
        missing = [k for k in REQUIRED if k not in exp]
        if missing:
            raise ValueError(f"config multimodal.experiments.{name}: missing keys {missing}")
        if exp["model"] not in MODEL_INPUTS:
            raise ValueError(f"config multimodal.experiments.{name}.model: unknown model "
                             f"'{exp['model']}'; choose one of {sorted(MODEL_INPUTS)}")
        exp["inputs"] = list(MODEL_INPUTS[exp["model"]])
        if "spectrum" in exp["inputs"]:
            exp["spectrum_grid"] = grid
    return found


def late_fusion_names(config: Mapping[str, Any]) -> list[str]:
    """Late-fusion (stacking) models, config ``multimodal.late_fusion``."""
    return list(_section(config).get("late_fusion") or {})


def tabular_names(config: Mapping[str, Any]) -> list[str]:
    """Feature baselines (linear, random forest), config ``multimodal.tabular``."""
    return list((_section(config).get("tabular") or {}).get("models") or {})


def result_names(config: Mapping[str, Any], found: Mapping[str, Any]) -> list[str]:
    """Rows of the results table: tabular baselines, networks, late fusion, generic baselines."""
    generic = [f"baseline-{b}" for b in _section(config).get("baselines") or {}]
    return [*tabular_names(config), *found, *late_fusion_names(config), *generic]


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Cross-field constraints: late-fusion members are experiments or tabular models,
    the active-learning and latent-map experiments are networks of the right kind;
    names are distinct."""
    section = _section(config)
    found = experiments(config)
    problems = []
    models = [*found, *tabular_names(config)]
    for name, spec in (section.get("late_fusion") or {}).items():
        for member in spec.get("members") or []:
            if member not in models:
                problems.append(f"multimodal.late_fusion.{name}.members: '{member}' is not "
                                f"an experiment or tabular model (have {sorted(models)})")
    active = section.get("active_learning") or {}
    base = active.get("experiment")
    if active and (base not in found or found[base]["inputs"] != ["image"]):
        problems.append(f"multimodal.active_learning.experiment: '{base}' must be an "
                        f"image_cnn experiment (have {sorted(found)})")
    if active and not float(found.get(base, {}).get("dropout", 0)) > 0:
        problems.append("multimodal.active_learning.experiment: needs dropout > 0 (its MC "
                        "dropout is the acquisition's uncertainty)")
    maps = (section.get("latent_maps") or {}).get("experiment")
    if maps is not None and (maps not in found or found[maps]["model"] != "early_fusion"):
        problems.append(f"multimodal.latent_maps.experiment: '{maps}' must be an "
                        f"early_fusion experiment")
    names = [*tabular_names(config), *found, *late_fusion_names(config)]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        problems.append(f"multimodal: names {clashes} are used twice (tabular, experiments, "
                        "late_fusion share one namespace)")
    return problems


def label_columns(found: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """z and the eight SFR statistics."""
    return TARGETS


def inputs(experiment: Mapping[str, Any], shards: Sequence[str]) -> dict[str, list[str]]:
    """The SDSS tables and the tensors of the experiment's modalities. An image-only
    model reads the image sample (no spectra), so a spectrum setting leaves it alone."""
    out = {"tables": [contract_path(sample_table(experiment["inputs"]), shard=s)
                      for s in shards]}
    for modality in experiment["inputs"]:
        out[modality] = [contract_path(_TENSORS[modality], shard=s) for s in shards]
    return out


def sample_table(modalities: Sequence[str]) -> str:
    """The contract table of a model of ``modalities``: ``SDSS_TABLE`` (both kept) when
    it reads spectra, else ``SDSS_IMAGE_SAMPLE`` (kept whatever the spectrum)."""
    return "SDSS_TABLE" if "spectrum" in modalities else "SDSS_IMAGE_SAMPLE"


def read_tables(tables: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Every row of the SDSS shard tables, with ``_file`` (the shard's position in
    ``tables``); a missing contract column is an error naming the file and column."""
    from galstar.io import read_parquet

    frames = []
    for i, path in enumerate(tables):
        frame = read_parquet(path)
        missing = [c for c in CONTRACT_COLUMNS if c not in frame.columns]
        if missing:  # (not training.data.check_columns: feature jobs never import keras)
            raise ValueError(f"SDSS table {path}: missing columns {missing}")
        frames.append(frame.assign(_file=i))
    return pd.concat(frames, ignore_index=True)


def _source(rows: pd.DataFrame, files: Sequence[str], modality: str):
    from galstar.io import load_npy
    from galstar.training.data import ShardSource

    arrays = [load_npy(p) for p in files]
    column = f"{modality}_row"
    for i, (path, array) in enumerate(zip(files, arrays, strict=True)):
        if array.ndim != _NDIM[modality] or array.dtype != np.float32:
            raise ValueError(f"{path}: expected a float32 {_NDIM[modality]}-d {modality} "
                             f"tensor, got {array.dtype} {array.shape}")
        used = rows.loc[rows["_file"] == i, column].to_numpy()
        if len(used) and (used.min() < 0 or used.max() >= len(array)):
            raise ValueError(f"{path}: {column} {int(used.max())} of a kept object is out of "
                             f"its {len(array)} rows")
    return ShardSource(arrays, rows["_file"].to_numpy(np.int64),
                       rows[column].to_numpy(np.int64))


def load_split(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any], split: str,
               label_cols: Sequence[str] | None = None):
    """The kept objects of ``split`` with the experiment's named inputs (``image``:
    (64, 64, 5), ``spectrum``: (L, 2)) and the nine labels."""
    from galstar.training.data import Split, finite_labels

    table = read_tables(files["tables"])
    rows = table[table["kept"].to_numpy(bool) & (table["split"] == split)]
    rows = rows.reset_index(drop=True)
    targets = tuple(label_cols or TARGETS)
    labels = finite_labels(rows, targets, str(files["tables"][0]))
    sources = {m: _source(rows, files[m], m) for m in experiment["inputs"]}
    return Split(sources, labels, rows.drop(columns="_file"), targets)


def channel_statistics(source, n_sample: int = 512, seed: int = 0
                       ) -> tuple[list[float], list[float]]:
    """Per-channel mean and variance of a random sample of an input (the models'
    normalisation layer; a zero variance becomes 1)."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(source), size=min(n_sample, len(source)), replace=False))
    x = source.gather(index).astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    return mean.tolist(), np.where(var > 0, var, 1.0).tolist()


_OPTIONS = {
    "image_cnn": ("widths", "latent_units", "dense_units"),
    "spectrum_dense": ("hidden_units", "latent_units", "dense_units", "downsample"),
    "spectrum_cnn1d": ("widths", "kernel_size", "pool", "latent_units", "dense_units",
                       "downsample"),
    "early_fusion": ("image_widths", "spectrum_widths", "kernel_size", "pool",
                     "latent_units", "dense_units", "downsample", "modality_dropout"),
}


def model_builder(experiment: Mapping[str, Any], train, seed: int):
    """``(build(train) -> keras.Model, run_info)``: the registry's model with the training
    inputs' per-channel statistics as its first layer (recorded in ``config.yaml``)."""
    from galstar.models import get_builder

    model = str(experiment["model"])
    stats = {m: channel_statistics(train.inputs[m], seed=seed) for m in experiment["inputs"]}
    options = {k: experiment[k] for k in _OPTIONS[model] if k in experiment}
    common = {"dropout": float(experiment.get("dropout", 0.1)),
              "l2": float(experiment.get("l2", 1e-4))}

    def build(split):
        shapes, n_out = split.input_shapes, len(split.targets)
        if model == "early_fusion":
            return get_builder(model)(
                shapes["image"], shapes["spectrum"], n_out, image_mean=stats["image"][0],
                image_variance=stats["image"][1], spectrum_mean=stats["spectrum"][0],
                spectrum_variance=stats["spectrum"][1], seed=int(seed), **common, **options)
        (modality,) = experiment["inputs"]
        return get_builder(model)(shapes[modality], n_out, input_mean=stats[modality][0],
                                  input_variance=stats[modality][1], **common, **options)

    return build, {f"{m}_channel_mean": s[0] for m, s in stats.items()}


def baseline_inputs(shards: Sequence[str]) -> dict[str, list[str]]:
    """The generic baselines (``multimodal.baselines``: the training mean) read the tables."""
    return {"tables": [contract_path("SDSS_TABLE", shard=s) for s in shards]}


def baseline_table(files: Mapping[str, Sequence[str | os.PathLike]],
                   label_cols: Sequence[str]) -> pd.DataFrame:
    """The kept objects of every split."""
    table = read_tables(files["tables"])
    return table[table["kept"].to_numpy(bool)].drop(columns="_file").reset_index(drop=True)


def final_targets(found: Mapping[str, Any]) -> list[str]:
    """The method's summary outputs (``rule all``): the results and fusion tables and the
    R2 and predicted-vs-true figures; the rule file adds the per-model outputs, whose
    names come from config sections this function is not given."""
    tables = [paths.fill(paths.METHOD_TABLE, method=NAME, table=t) for t in ("results", "fusion")]
    return tables + [paths.fill(paths.METHOD_FIGURE, method=NAME, figure=f)
                     for f in ("r2", "pred_vs_true")]
