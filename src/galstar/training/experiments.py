"""Experiments from config: defaults merged in, ablation lists expanded.

Kept free of keras imports: the Snakefile calls :func:`expand_experiments` at parse time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["BACKBONE_APPLICATIONS", "TASKS", "expand_experiments", "task_targets"]

#: Backbone name -> ``keras.applications`` attribute.
BACKBONE_APPLICATIONS: dict[str, str] = {
    "efficientnet_b0": "EfficientNetB0",
    "efficientnet_b1": "EfficientNetB1",
    "efficientnet_b2": "EfficientNetB2",
    "efficientnet_b3": "EfficientNetB3",
    "efficientnet_v2_b3": "EfficientNetV2B3",
    "efficientnet_v2_s": "EfficientNetV2S",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
}

#: Task -> label columns of the preprocessed shard tables, in output order.
TASKS: dict[str, tuple[str, ...]] = {
    "mass_ssfr": ("lgm_fib_p50", "specsfr_fib_p50"),
}

#: Scheduling defaults (config ``training`` or the experiment may override them).
RESOURCE_DEFAULTS = {"gpu": 0, "threads": 1, "mem_mb": 4000, "runtime": 60}

REQUIRED = ("task", "backbone", "weights", "bands", "resolution", "epochs", "batch_size",
            "learning_rate", "dropout")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_BANDS = re.compile(r"^(?=.)g?r?z?$")  # a non-empty subset of g, r, z, in that order


def task_targets(task: str) -> tuple[str, ...]:
    """Label columns of ``task``; a clear error for an unknown task."""
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"unknown task '{task}'; known tasks: {sorted(TASKS)}") from None


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check(name: str, exp: Mapping[str, Any]) -> None:
    where = f"config experiments.{name}"
    if not _NAME.match(name) or name.startswith("baseline-"):
        raise ValueError(f"{where}: experiment names may use only letters, digits, _ . - "
                         "and must not start with 'baseline-' (reserved for baselines)")
    missing = [k for k in REQUIRED if k not in exp]
    if missing:
        raise ValueError(f"{where}: missing keys {missing}")
    task_targets(exp["task"])
    if exp["backbone"] not in BACKBONE_APPLICATIONS:
        raise ValueError(f"{where}.backbone: '{exp['backbone']}' is not one of "
                         f"{sorted(BACKBONE_APPLICATIONS)}")
    if not _BANDS.match(str(exp["bands"])):
        raise ValueError(f"{where}.bands: '{exp['bands']}' must be a subset of g, r, z "
                         "written in that order (g, r, z, gr, gz, rz, grz)")
    for key in ("resolution", "epochs", "batch_size"):
        if not isinstance(exp[key], int) or exp[key] < 1:
            raise ValueError(f"{where}.{key}: expected a positive integer, got {exp[key]!r}")
    if not float(exp["learning_rate"]) > 0:
        raise ValueError(f"{where}.learning_rate must be > 0")


def expand_experiments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Resolve every experiment the config asks for.

    Each entry of ``config["experiments"]`` is merged over ``config["training"]``
    (shared defaults). ``config["ablations"]`` (``base``, ``bands``, ``resolution``)
    adds copies of the base experiment named ``<base>-bands-<b>`` and ``<base>-res-<r>``;
    values equal to the base's own are skipped (the base is that point of the curve).

    Parameters
    ----------
    config : mapping
        The Snakemake config.

    Returns
    -------
    dict
        Experiment name -> complete settings, with ``name`` and ``ablation``
        (None, or ``{"base", "kind", "value"}``) added.
    """
    defaults = {**RESOURCE_DEFAULTS, **(config.get("training") or {})}
    declared = config.get("experiments") or {}
    experiments: dict[str, dict[str, Any]] = {}
    for name, settings in declared.items():
        exp = _merge(defaults, settings or {})
        _check(name, exp)
        experiments[name] = {**exp, "name": name, "ablation": None}

    ablations = config.get("ablations") or {}
    if ablations.get("bands") or ablations.get("resolution"):
        base_name = ablations.get("base")
        if base_name not in experiments:
            raise ValueError(f"config ablations.base: '{base_name}' is not an experiment "
                             f"(have {sorted(experiments)})")
        base = experiments[base_name]
        for kind, key, label in (("bands", "bands", "bands"), ("resolution", "resolution", "res")):
            for value in ablations.get(kind) or []:
                if value == base[key]:
                    continue
                name = f"{base_name}-{label}-{value}"
                if name in experiments:
                    raise ValueError(f"config ablations: generated experiment '{name}' "
                                     "clashes with a declared one")
                exp = {**copy.deepcopy(base), key: value, "name": name,
                       "ablation": {"base": base_name, "kind": kind, "value": value}}
                _check(name, exp)
                experiments[name] = exp
    return experiments
