"""Helpers for the training/evaluation rule files (keras-free, parse-time cheap).

They live here rather than in the ``.smk`` files so that those hold rules only (the
Snakemake linter's rule/function separation) and so that they are unit-tested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["EXPERIMENT_FIGURES", "name_regex", "experiment_setting", "experiment_images",
           "ablation_kinds", "evaluation_targets_function"]

Experiments = Mapping[str, Mapping[str, Any]]

#: Per-experiment figures (``results/figures/<experiment>/<name>.png``): paper Figs 7,
#: 8, 9, 13, 14, 15.
EXPERIMENT_FIGURES = ("pred_vs_ref", "distributions", "uncertainty", "by_size",
                      "by_redshift", "by_type")


def name_regex(names: Iterable[str]) -> str:
    """Wildcard regex matching exactly ``names`` (never matching when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def experiment_setting(experiments: Experiments, key: str) -> Callable[..., Any]:
    """Params/resources function returning ``experiments[<experiment>][key]``."""

    def get(wildcards, *args, **kwargs):
        return experiments[wildcards.experiment][key]

    return get


def experiment_images(experiments: Experiments, shards: Sequence[str]) -> Callable[..., list]:
    """Input function: the experiment's ``<bands>-<resolution>`` tensors, one per shard."""

    def get(wildcards) -> list[str]:
        exp = experiments[wildcards.experiment]
        variant = f"{exp['bands']}-{exp['resolution']}"
        return [f"results/preprocess/{variant}/{shard}.npy" for shard in shards]

    return get


def ablation_kinds(experiments: Experiments) -> list[str]:
    """Ablation kinds ('bands', 'resolution') with at least one generated experiment."""
    kinds = {(e.get("ablation") or {}).get("kind") for e in experiments.values()}
    return [k for k in ("bands", "resolution") if k in kinds]


def evaluation_targets_function(experiments: Experiments,
                                figures: Sequence[str]) -> Callable[[], list[str]]:
    """The stage's final outputs, as the no-argument function ``rule all`` calls."""

    def targets() -> list[str]:
        out = ["results/metrics/table1.csv", "results/metrics/image_gain.csv"]
        for name in experiments:
            out += [f"results/models/{name}/learning_curve.png", f"results/metrics/{name}.csv",
                    f"results/metrics/{name}/calibration.csv"]
            out += [f"results/figures/{name}/{fig}.png" for fig in figures]
        out += [f"results/figures/ablation_{kind}.png" for kind in ablation_kinds(experiments)]
        return out

    return targets
