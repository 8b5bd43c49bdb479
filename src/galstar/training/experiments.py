"""Experiments from config: shared training defaults, the method's, the experiment's.

Kept free of keras imports: the Snakefile resolves experiments at parse time. What an
experiment's keys mean is the method's business (``galstar.methods``); here only the
merge, the names and the settings every training run has.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from galstar.training.folds import expand_folds

__all__ = ["RESOURCE_DEFAULTS", "merge", "check_name", "resolve_experiments"]

#: Scheduling defaults (config ``training``, the method's or the experiment may override).
RESOURCE_DEFAULTS = {"gpu": 0, "threads": 1, "mem_mb": 4000, "runtime": 60, "priority": 0}

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, any other value replaces the base's."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_name(where: str, name: str) -> None:
    """Experiment names become paths and wildcards: letters, digits, ``_ . -`` only, and
    ``baseline-`` is reserved for the baselines."""
    if not _NAME.match(name) or name.startswith("baseline-"):
        raise ValueError(f"config {where}.{name}: experiment names may use only letters, "
                         "digits, _ . - and must not start with 'baseline-' (reserved for "
                         "baselines)")


def resolve_experiments(config: Mapping[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """Every experiment of ``config[method]["experiments"]``, defaults merged in.

    Each experiment is merged over ``config["training"]`` (shared defaults), then the
    method's own ``training`` section, then its own keys; ``name``, ``method`` and
    ``ablation`` (None) are added.
    """
    section = config.get(method) or {}
    defaults = merge({**RESOURCE_DEFAULTS, **(config.get("training") or {})},
                     section.get("training") or {})
    experiments: dict[str, dict[str, Any]] = {}
    for name, settings in (section.get("experiments") or {}).items():
        check_name(f"{method}.experiments", name)
        exp = merge(defaults, settings or {})
        experiments[name] = {**exp, "name": name, "method": method, "ablation": None}
    if not experiments:
        raise ValueError(f"config {method}.experiments: the method is enabled (methods:) "
                         "but has no experiments")
    return expand_folds(experiments, f"{method}.experiments")
