"""GalEffNet (Zhong et al. 2024): log M* and log sSFR from DESI DR9 grz cutouts.

The method's experiments (backbone, weights, bands, resolution; optionally the
redshift beside the image), its band/resolution ablations, how its splits are read
from the preprocessed shards, its model, and its tables (Table 1, Table 2, the image
gain over catalogue baselines). Keras is imported only inside the functions that
build or run models.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar import paths
from galstar.models.backbones import BACKBONE_APPLICATIONS
from galstar.training.experiments import resolve_experiments

__all__ = ["NAME", "TASKS", "CARRIED", "FIGURES", "ABLATION_ORDER", "experiments", "targets",
           "variant", "inputs", "load_split", "model_builder", "baseline_table",
           "evaluate_extras", "summarise", "label_columns", "baseline_inputs",
           "final_targets", "config_problems"]

NAME = "galeffnet"

#: Task -> label columns of the preprocessed shard tables, in output order.
TASKS: dict[str, tuple[str, ...]] = {
    "mass_ssfr": ("lgm_fib_p50", "specsfr_fib_p50"),
}

#: Catalogue columns carried into the predictions (the per-group tables need them).
CARRIED = ("object_id", "split", "z", "TYPE", "SHAPE_R", "radius_arcsec")

#: Per-experiment figures (``results/galeffnet/figures/<experiment>/<name>.png``): paper
#: Figs 7, 8, 9, 13, 14, 15.
FIGURES = ("pred_vs_ref", "distributions", "uncertainty", "by_size", "by_redshift", "by_type")

#: x-axis order of the ablation figures (paper Figs 11 and 12).
ABLATION_ORDER = {"bands": ["g", "r", "z", "gr", "gz", "rz", "grz"],
                  "resolution": [8, 16, 32, 64]}

#: Named ``weights`` values; any other is the path of a keras backbone weights file.
WEIGHTS = ("imagenet", "none")
REQUIRED = ("task", "backbone", "weights", "bands", "resolution", "epochs", "batch_size",
            "learning_rate", "dropout")
_BANDS = re.compile(r"^(?=.)g?r?z?$")  # a non-empty subset of g, r, z, in that order


def targets(experiment: Mapping[str, Any]) -> tuple[str, ...]:
    """Label columns of the experiment's task; a clear error for an unknown task."""
    try:
        return TASKS[experiment["task"]]
    except KeyError:
        raise ValueError(f"config galeffnet.experiments.{experiment.get('name')}.task: "
                         f"unknown task '{experiment.get('task')}'; known: "
                         f"{sorted(TASKS)}") from None


def _check(name: str, exp: Mapping[str, Any]) -> None:
    where = f"config galeffnet.experiments.{name}"
    missing = [k for k in REQUIRED if k not in exp]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    targets(exp)
    if exp["backbone"] not in BACKBONE_APPLICATIONS:
        raise ValueError(f"{where}.backbone: '{exp['backbone']}' is not one of "
                         f"{sorted(BACKBONE_APPLICATIONS)}")
    if not _BANDS.match(str(exp["bands"])):
        raise ValueError(f"{where}.bands: '{exp['bands']}' must be a subset of g, r, z "
                         "written in that order (g, r, z, gr, gz, rz, grz)")
    # after the merge: the schema sees each section alone, not the merged experiment
    for key in ("resolution", "epochs", "batch_size"):
        if not isinstance(exp[key], int) or exp[key] < 1:
            raise ValueError(f"{where}.{key}: expected a positive integer, got {exp[key]!r}")
    _check_weights(where, exp["weights"])


def _check_weights(where: str, weights: Any) -> None:
    """``weights`` is imagenet, none or an existing file: a misspelt name (``imagnet``)
    would otherwise be taken for a path and fail only when training starts."""
    value = str(weights)
    if value.lower() in WEIGHTS or os.path.isfile(os.path.expanduser(value)):
        return
    close = difflib.get_close_matches(value.lower(), WEIGHTS, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"{where}.weights: '{value}' is neither 'imagenet', 'none' nor an "
                     f"existing keras weights file (a path relative to the working "
                     f"directory){hint}")


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Constraints between the experiments and the shared config: an experiment's
    ``resolution`` must not exceed the preprocessing crop (a variant is made by
    resampling the crop; upsampling would add no detail)."""
    crop = ((config.get("galaxies") or {}).get("preprocess") or {}).get("crop")
    if not isinstance(crop, int):
        return []
    return [f"galeffnet.experiments.{name}.resolution: {exp['resolution']} px exceeds "
            f"galaxies.preprocess.crop ({crop} px); the images would be upsampled"
            for name, exp in experiments(config).items() if exp["resolution"] > crop]


def experiments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every GalEffNet experiment the config asks for.

    Each entry of ``config["galeffnet"]["experiments"]`` is merged over the shared and
    the method's ``training`` defaults. ``galeffnet.ablations`` (``base``, ``bands``,
    ``resolution``) adds copies of the base experiment named ``<base>-bands-<b>`` and
    ``<base>-res-<r>``; values equal to the base's own are skipped (the base is that
    point of the curve).

    Returns
    -------
    dict
        Experiment name -> complete settings, with ``name``, ``method`` and
        ``ablation`` (None, or ``{"base", "kind", "value"}``) added.
    """
    found = resolve_experiments(config, NAME)
    for name, exp in found.items():
        _check(name, exp)
    ablations = (config.get(NAME) or {}).get("ablations") or {}
    if ablations.get("bands") or ablations.get("resolution"):
        base_name = ablations.get("base")
        if base_name not in found:
            raise ValueError(f"config galeffnet.ablations.base: '{base_name}' is not an "
                             f"experiment (have {sorted(found)})")
        base = found[base_name]
        for kind, label in (("bands", "bands"), ("resolution", "res")):
            for value in ablations.get(kind) or []:
                if value == base[kind]:
                    continue
                name = f"{base_name}-{label}-{value}"
                if name in found:
                    raise ValueError(f"config galeffnet.ablations: generated experiment "
                                     f"'{name}' clashes with a declared one")
                exp = {**copy.deepcopy(base), kind: value, "name": name,
                       "ablation": {"base": base_name, "kind": kind, "value": value}}
                _check(name, exp)
                found[name] = exp
    return found


def variant(experiment: Mapping[str, Any]) -> str:
    """The preprocessed tensor variant an experiment reads (``<bands>-<resolution>``)."""
    return f"{experiment['bands']}-{experiment['resolution']}"


def inputs(experiment: Mapping[str, Any], shards: Sequence[str]) -> dict[str, list[str]]:
    """Input files of training and prediction: the shard tables and the image tensors."""
    return {"tables": [paths.fill(paths.PREPROCESS_TABLE, shard=s) for s in shards],
            "image": [paths.fill(paths.PREPROCESS_TENSOR, variant=variant(experiment), shard=s)
                      for s in shards]}


def load_split(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any], split: str,
               label_columns: Sequence[str] | None = None):
    """The kept objects of ``split``: input ``image`` (and ``redshift`` when the
    experiment has ``with_redshift``), labels from the shard tables."""
    from galstar.training.data import ArraySource
    from galstar.training.shards import load_shard_split

    data = load_shard_split(files["tables"], {"image": files["image"]}, split,
                            label_columns or targets(experiment), ndim={"image": 4})
    if len(data) and data.input_shapes["image"][:2] != (experiment["resolution"],) * 2:
        raise ValueError(f"config galeffnet.experiments.{experiment['name']}.resolution is "
                         f"{experiment['resolution']} but {files['image'][0]} holds "
                         f"{data.input_shapes['image'][:2]} images")
    if experiment.get("with_redshift"):
        z = data.table["z"].to_numpy(np.float32)[:, None]
        if not np.all(np.isfinite(z)):
            raise ValueError(f"non-finite redshift among the '{split}' objects of "
                             f"{files['tables'][0]} ...")
        data.inputs["redshift"] = ArraySource(z)
    return data


def model_builder(experiment: Mapping[str, Any], train, seed: int):
    """``(build(train) -> keras.Model, run_info)`` for :func:`galstar.training.fit.train_model`.

    The input scale (bright pixels -> ~255, as the backbones expect) comes from the
    training images and is recorded in the model's ``config.yaml``.
    """
    from galstar.models import get_builder
    from galstar.training.data import input_scale

    scale = input_scale(train.inputs["image"], seed=seed)
    extra = {"redshift": 1} if experiment.get("with_redshift") else None
    stats = None
    if extra:
        z = train.inputs["redshift"].gather(np.arange(len(train)))
        stats = {"redshift": [z.mean(axis=0).tolist(), z.std(axis=0).tolist()]}

    def build(split):
        return get_builder("galeffnet")(
            experiment["backbone"], input_shape=split.input_shapes["image"],
            n_outputs=len(split.targets), weights=experiment["weights"],
            dropout=float(experiment["dropout"]),
            dense_units=int(experiment.get("dense_units", 1024)),
            l2=float(experiment.get("l2", 1e-3)), input_scale=scale,
            bn_momentum=experiment.get("bn_momentum"), extra_inputs=extra, extra_stats=stats)

    return build, {"input_scale": scale, **({"extra_stats": stats} if stats else {})}


def baseline_table(files: Mapping[str, Sequence[str | os.PathLike]],
                   label_columns: Sequence[str]) -> pd.DataFrame:
    """The kept objects of every split (the preprocessed shard tables, so the baselines
    see exactly the objects the networks see), with every catalogue column of the
    cross-matched shards (fluxes, MW transmissions, shapes) joined on object_id."""
    from galstar.io import read_parquet
    from galstar.training.data import check_columns

    frames = []
    for table_path, catalog_path in zip(files["tables"], files["catalog"], strict=True):
        t = read_parquet(table_path)
        check_columns(t, ("object_id", "split", "kept", *label_columns), str(table_path))
        kept = t.loc[t["kept"].to_numpy(dtype=bool), ["object_id", "split", "kept",
                                                        *CARRIED[2:], *label_columns]]
        catalog = read_parquet(catalog_path)
        extra = [c for c in catalog.columns if c not in kept.columns]
        merged = kept.merge(catalog[["object_id", *extra]], on="object_id", how="left",
                            validate="one_to_one")
        frames.append(merged)
    return pd.concat(frames, ignore_index=True)


def evaluate_extras(predictions: pd.DataFrame, settings: Mapping[str, Any], *,
                    table2_path: str | os.PathLike,
                    uncertainty_path: str | os.PathLike) -> None:
    """Table 2 (metrics by size, redshift, TYPE) and the MC-dropout sigma per bin (Fig 9)."""
    from galstar.evaluation.evaluate import write_csv
    from galstar.evaluation.metrics import prediction_targets
    from galstar.evaluation.uncertainty import binned_sigma
    from galstar.methods.galeffnet_tables import table2

    names = prediction_targets(predictions)
    outlier = float(settings.get("outlier_dex", 0.3))
    write_csv(table2(predictions, names, size_bins=settings["size_bins_arcsec"],
                     redshift_bins=settings["redshift_bins"], outlier_dex=outlier), table2_path)
    test = predictions[predictions["split"] == "test"]
    bins = [binned_sigma(test[t + "_true"], test[t + "_sigma"],
                         float(settings.get("sigma_bin_dex", 0.5))).assign(target=t)
            for t in names]
    write_csv(pd.concat(bins, ignore_index=True), uncertainty_path)


def summarise(metrics_paths: Mapping[str, str | os.PathLike],
              settings: Mapping[str, Mapping[str, Any]], *,
              table1_path: str | os.PathLike, gain_path: str | os.PathLike) -> pd.DataFrame:
    """Table 1 over experiments and baselines, and each network's gain over the
    baselines that see the same catalogue quantities (with / without redshift)."""
    from galstar.evaluation.evaluate import write_csv
    from galstar.methods.galeffnet_tables import image_gain, like_for_like, table1

    frames = {}
    for name, path in metrics_paths.items():
        try:
            frames[name] = pd.read_csv(path)
        except (OSError, pd.errors.ParserError) as err:
            raise OSError(f"cannot read metrics table {path}: {err}") from err
    table = table1(frames, settings)
    write_csv(table, table1_path)
    pairs = like_for_like(table)
    gains = [image_gain(table, net, [base], list(frames[net]["target"])) for net, base in pairs]
    write_csv(pd.concat(gains, ignore_index=True) if gains else pd.DataFrame(), gain_path)
    return table


def label_columns(found: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The labels the baselines predict: those of every experiment (one task today)."""
    columns = {targets(exp) for exp in found.values()}
    if len(columns) != 1:
        raise ValueError(f"config galeffnet.experiments: the baselines need one task, the "
                         f"experiments have {sorted(columns)}")
    return columns.pop()


def baseline_inputs(shards: Sequence[str]) -> dict[str, list[str]]:
    """The files the catalogue baselines read: the preprocessed shard tables (which
    objects) and the cross-matched shards (their catalogue columns)."""
    return {"tables": [paths.fill(paths.PREPROCESS_TABLE, shard=s) for s in shards],
            "catalog": [paths.fill(paths.CATALOG_SHARD, shard=s) for s in shards]}


def final_targets(found: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The method's own final outputs (``rule all``): Table 1, the image gain, each
    experiment's Table 2, sigma bins and figures, and the ablation figures."""
    out = [paths.fill(paths.METHOD_TABLE, method=NAME, table=t) for t in ("table1", "image_gain")]
    for name in found:
        out += [paths.fill(f"{paths.METHOD}/metrics/{{name}}/{t}.csv", method=NAME, name=name)
                for t in ("table2", "uncertainty_bins")]
        out += [paths.fill(paths.FIGURE, method=NAME, name=name, figure=f) for f in FIGURES]
    kinds = {(e.get("ablation") or {}).get("kind") for e in found.values()} - {None}
    out += [paths.fill(paths.METHOD_FIGURE, method=NAME, figure=f"ablation_{k}")
            for k in sorted(kinds)]
    return out
