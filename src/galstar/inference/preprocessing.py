"""The preprocessing a model was trained with, as a flat record, and its comparison with
the config a prediction run would use.

A record maps dotted config keys (``galaxies.preprocess.ellipse_scale``) to values, so
that a mismatch names the key a user changed. Only settings that change the model's
inputs are recorded (download politeness, figure sizes and the like are not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["PreprocessingMismatch", "flatten", "preprocessing_record", "differing_keys",
           "check_preprocessing"]

#: galaxies.preprocess keys that never change an image (truth scoring, figures).
_NOT_PREPROCESSING = ("quality", "figure")


class PreprocessingMismatch(ValueError):
    """The config's preprocessing differs from the model's (``keys``: the dotted keys)."""

    def __init__(self, message: str, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _galaxy_record(config: Mapping[str, Any], experiment: Mapping[str, Any]) -> dict:
    galaxies = config["galaxies"]
    preprocess = {k: v for k, v in galaxies["preprocess"].items()
                  if k not in _NOT_PREPROCESSING}
    record = {"galaxies": {"cutout": dict(galaxies["cutout"]),
                           "crossmatch": {"radius_arcsec":
                                          galaxies["crossmatch"]["radius_arcsec"]},
                           "preprocess": preprocess}}
    return flatten(record)


def _stellar_record(config: Mapping[str, Any], experiment: Mapping[str, Any]) -> dict:
    stellar = config["stellar"]
    arms = ["vis", "nir"] if experiment["arm"] == "fusion" else [str(experiment["arm"])]
    chain = ("stitch", "normalise", "barycentric", "max_filled_fraction", "accept_merged")
    record = {"stellar": {"arms": {a: {"grid": stellar["arms"][a]["grid"],
                                       "shapes": stellar["arms"][a]["shapes"]} for a in arms},
                          **{k: stellar[k] for k in chain if k in stellar}}}
    return flatten(record)


def _feature_record(config: Mapping[str, Any], experiment: Mapping[str, Any]) -> dict:
    features = (config.get("sigma_sfr") or {}).get("features")
    return flatten({"galaxies": {"crossmatch": {
        "radius_arcsec": config["galaxies"]["crossmatch"]["radius_arcsec"]}},
        "sigma_sfr": {"features": features}})


_RECORDS = {"galeffnet": _galaxy_record, "stellar": _stellar_record,
            "sigma_sfr": _feature_record}


def preprocessing_record(config: Mapping[str, Any], method: str,
                         experiment: Mapping[str, Any]) -> dict[str, Any]:
    """The flat preprocessing record of ``method`` under ``config`` (what the model
    directory stores, and what a prediction run compares with it)."""
    try:
        build = _RECORDS[method]
    except KeyError:
        raise ValueError(f"predicting for targets is not available for method '{method}' "
                         f"(available: {sorted(_RECORDS)})") from None
    return build(config, experiment)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0) or a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def differing_keys(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Dotted keys whose values differ, or that only one side has (sorted)."""
    keys = set(recorded) | set(current)
    return sorted(k for k in keys if k not in recorded or k not in current
                  or not _same(recorded[k], current[k]))


def check_preprocessing(recorded: Mapping[str, Any], current: Mapping[str, Any],
                        model_dir: str) -> None:
    """Raise :class:`PreprocessingMismatch` naming every differing key, with both values.

    Predictions must see the preprocessing the model was trained with: change the
    config back, or retrain.
    """
    keys = differing_keys(recorded, current)
    if not keys:
        return
    missing = "<absent>"
    detail = "; ".join(f"{k}: model {recorded.get(k, missing)!r}, config "
                       f"{current.get(k, missing)!r}" for k in keys)
    raise PreprocessingMismatch(
        f"model {model_dir} was trained with other preprocessing than this config: "
        f"{detail}. Set these keys back to the model's values (or retrain the model).", keys)
