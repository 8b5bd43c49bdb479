"""Optimisers and learning-rate schedules chosen by name in an experiment's config.

``optimizer``: ``adam`` (default, Keras Adam) or ``adamw`` (decoupled weight decay
``weight_decay``, multiplied by the learning rate as in PyTorch's AdamW). Keras ships
neither RAdam nor Lookahead, so the RAdam + Lookahead of fastai-era papers becomes
AdamW here. ``lr_schedule``: ``constant`` (default) or ``one_cycle`` (fastai's
``fit_one_cycle`` defaults: cosine warm-up from ``learning_rate / 25`` to
``learning_rate`` over the first 25 % of the steps, then cosine annealing to
``learning_rate / 25 / 1e5``; fastai's momentum cycling is not copied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

__all__ = ["OPTIMIZERS", "SCHEDULES", "OneCycle", "build_optimizer"]

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "one_cycle")


@keras.saving.register_keras_serializable(package="galstar")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """fastai's one-cycle learning rate as a function of the step.

    Parameters
    ----------
    max_lr : float
    total_steps : int
        Steps of the whole run (epochs x batches per epoch).
    pct_start : float
        Fraction of the steps spent warming up.
    div, div_final : float
        Start at ``max_lr / div``; end at ``max_lr / div / div_final``.
    """

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.25,
                 div: float = 25.0, div_final: float = 1e5):
        self.max_lr, self.total_steps = float(max_lr), max(int(total_steps), 1)
        self.pct_start, self.div, self.div_final = float(pct_start), float(div), float(div_final)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = max(self.pct_start * self.total_steps, 1.0)
        start, low = self.max_lr / self.div, self.max_lr / self.div / self.div_final

        def cosine(a, b, frac):  # a -> b as frac goes 0 -> 1
            frac = ops.clip(frac, 0.0, 1.0)
            return b + (a - b) * 0.5 * (1.0 + ops.cos(math.pi * frac))

        up = cosine(start, self.max_lr, step / warm)
        down = cosine(self.max_lr, low, (step - warm) / max(self.total_steps - warm, 1.0))
        return ops.where(step < warm, up, down)

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps,
                "pct_start": self.pct_start, "div": self.div, "div_final": self.div_final}


def build_optimizer(experiment: Mapping[str, Any], steps_per_epoch: int
                    ) -> keras.optimizers.Optimizer:
    """The optimiser an experiment names (``optimizer``, ``weight_decay``,
    ``learning_rate``, ``lr_schedule``, ``epochs``); a clear error names the key."""
    name = experiment.get("name", "<experiment>")
    kind = str(experiment.get("optimizer", "adam")).lower()
    schedule = str(experiment.get("lr_schedule", "constant")).lower()
    lr: Any = float(experiment["learning_rate"])
    if schedule == "one_cycle":
        if experiment.get("reduce_lr"):
            raise ValueError(f"config {name}: lr_schedule one_cycle and reduce_lr both set "
                             "the learning rate; set reduce_lr: false")
        lr = OneCycle(lr, int(experiment["epochs"]) * max(int(steps_per_epoch), 1))
    elif schedule != "constant":
        raise ValueError(f"config {name}.lr_schedule: unknown schedule '{schedule}'; choose "
                         f"one of {list(SCHEDULES)}")
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if kind == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr,
                                      weight_decay=float(experiment.get("weight_decay", 0.01)))
    raise ValueError(f"config {name}.optimizer: unknown optimizer '{kind}'; choose one of "
                     f"{list(OPTIMIZERS)}")
