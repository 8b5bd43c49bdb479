"""Keras 3 model builders: a registry of names and one module per architecture family.

The registry maps a model name (config ``model:`` / ``backbone:``) to
``"module:function"``; modules are imported only when a model is built, because
keras is heavy and the Snakefile reads the registry at parse time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["MODELS", "model_names", "get_builder"]

#: Model name -> "module:builder" (each builder returns an uncompiled keras.Model).
MODELS: dict[str, str] = {
    "galeffnet": "galstar.models.galeffnet:build_galeffnet",
    "resnet1d": "galstar.models.resnet1d:build_resnet1d",
    "cnn1d": "galstar.models.resnet1d:build_cnn1d",
    "starnet": "galstar.models.starnet:build_starnet",
    "vgg1d": "galstar.models.vgg1d:build_vgg1d",
    "image_cnn": "galstar.models.fusion:build_image_cnn",
    "spectrum_dense": "galstar.models.fusion:build_spectrum_dense",
    "spectrum_cnn1d": "galstar.models.fusion:build_spectrum_cnn1d",
    "early_fusion": "galstar.models.fusion:build_early_fusion",
    "xresnet18": "galstar.models.xresnet:build_xresnet18",
    "xresnet18_deconv": "galstar.models.xresnet:build_xresnet18_deconv",
    "xresnet18_hybrid": "galstar.models.xresnet:build_xresnet18_hybrid",
    "simple_cnn": "galstar.models.xresnet:build_simple_cnn",
    "simple_deconv": "galstar.models.xresnet:build_simple_deconv",
}


def model_names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_builder(name: str) -> Callable[..., Any]:
    """The builder function registered as ``name`` (a clear error naming the choices)."""
    try:
        target = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; registered: {model_names()}") from None
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)
