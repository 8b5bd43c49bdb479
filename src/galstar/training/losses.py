"""Losses chosen by name in the config (``loss:``, ``huber_delta:``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

__all__ = ["LOSSES", "get_loss"]

#: Config ``loss`` values.
LOSSES = ("mae", "mse", "huber")


def get_loss(experiment: Mapping[str, Any]) -> keras.losses.Loss:
    """The keras loss an experiment names (``loss``: mae | mse | huber, with ``huber_delta``
    in scaled label units)."""
    name = str(experiment.get("loss", "mae")).lower()
    if name == "mae":
        return keras.losses.MeanAbsoluteError()
    if name == "mse":
        return keras.losses.MeanSquaredError()
    if name == "huber":
        delta = float(experiment.get("huber_delta", 1.0))
        if not delta > 0:
            raise ValueError(f"config {experiment.get('name', '<experiment>')}.huber_delta "
                             f"must be > 0, got {delta}")
        return keras.losses.Huber(delta=delta)
    raise ValueError(f"config {experiment.get('name', '<experiment>')}.loss: unknown loss "
                     f"'{name}'; choose one of {list(LOSSES)}")
