"""StarNet (Fabbro et al. 2018, astroai/starnet) for 1D spectra, one arm or several fused.

Per input: Conv1D 4 then 16 filters (kernel 8, ``same`` padding, ReLU, He-normal),
max-pool 4, flatten. Several inputs (VIS + NIR) are separate branches whose flattened
features are concatenated (the fusion variant). Head: Dense 256 and 128 (ReLU,
He-normal), linear outputs. Dropout before each dense layer is this package's addition
for MC-dropout uncertainties (0 builds the published network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np

__all__ = ["build_starnet", "check_inputs", "dense_head", "standardise"]

#: Layer name the MC-dropout code and the tests rely on.
OUTPUT = "outputs"


def check_inputs(input_shapes: Mapping[str, Sequence[int]], n_outputs: int,
                 dropout: float) -> None:
    """Shared argument checks of the spectrum models (clear errors naming the value)."""
    if not input_shapes:
        raise ValueError("input_shapes must name at least one input (e.g. {'vis': (4096, 1)})")
    for name, shape in input_shapes.items():
        if len(shape) != 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
            raise ValueError(f"input '{name}': shape must be (length, channels), got {shape}")
    if int(n_outputs) < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def standardise(x, name: str, input_stats: Mapping[str, Sequence[float]] | None):
    """``x`` through a global ``Normalization`` (mean, variance of ``input_stats[name]``),
    or unchanged when no statistics are given for it."""
    if not input_stats or name not in input_stats:
        return x
    mean, variance = (float(v) for v in input_stats[name])
    # Statistics as the layer's weights (not constants): saved with the model, and a
    # warm start copies the source model's into it like any other weight.
    layer = keras.layers.Normalization(axis=None, name=f"{name}_scaling")
    y = layer(x)
    layer.set_weights([np.float32(mean), np.float32(variance), np.int64(1)])
    layer.finalize_state()
    return y


def dense_head(x, units: Sequence[int], n_outputs: int, dropout: float, initializer: str):
    """Dense layers (ReLU), each after a dropout when ``dropout > 0``, then the linear
    float32 output layer (also after a dropout)."""
    for d, n in enumerate(units, start=1):
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{d}")(x)
        x = keras.layers.Dense(int(n), activation="relu", kernel_initializer=initializer,
                               name=f"dense{d}")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"dropout{len(units) + 1}")(x)
    return keras.layers.Dense(int(n_outputs), activation="linear", dtype="float32",
                              kernel_initializer=initializer, name=OUTPUT)(x)


def build_starnet(input_shapes: Mapping[str, Sequence[int]], n_outputs: int = 3, *,
                  filters: Sequence[int] = (4, 16), kernel_size: int = 8, pool_size: int = 4,
                  dense_units: Sequence[int] = (256, 128), dropout: float = 0.0,
                  input_stats: Mapping[str, Sequence[float]] | None = None,
                  name: str = "starnet") -> keras.Model:
    """Build StarNet with one branch per input.

    Parameters
    ----------
    input_shapes : mapping of str to (length, channels)
        Model inputs by name (the arms: ``{"vis": (4096, 1)}``; two names build the
        fusion variant).
    n_outputs : int
        Regression targets (z-scored labels: 1 for T, 2 for TG, 3 for TGM).
    filters : sequence of int
        Filters of the convolutions of each branch (published: 4, 16).
    kernel_size : int
        Kernel of every convolution (8), stride 1, ``same`` padding.
    pool_size : int
        Max-pooling window and stride after the convolutions (4).
    dense_units : sequence of int
        Hidden dense layers after the (concatenated) features (256, 128).
    dropout : float
        Rate of the dropout before each dense layer; 0 (published) adds none.
    input_stats : mapping of str to (mean, variance), optional
        Per input: a ``Normalization`` layer standardises it inside the model with the
        training spectra's global mean and variance (saved with the model).
    name : str

    Returns
    -------
    keras.Model
        Uncompiled; inputs named as ``input_shapes``, output (batch, n_outputs) float32.
    """
    check_inputs(input_shapes, n_outputs, dropout)
    init = "he_normal"
    inputs, features = {}, []
    for arm, (length, channels) in input_shapes.items():
        x = inp = keras.Input(shape=(int(length), int(channels)), name=arm)
        x = standardise(x, arm, input_stats)
        for c, n in enumerate(filters, start=1):
            x = keras.layers.Conv1D(int(n), int(kernel_size), padding="same", activation="relu",
                                    kernel_initializer=init, name=f"{arm}_conv{c}")(x)
        x = keras.layers.MaxPooling1D(int(pool_size), name=f"{arm}_pool")(x)
        features.append(keras.layers.Flatten(name=f"{arm}_flatten")(x))
        inputs[arm] = inp
    x = features[0] if len(features) == 1 else keras.layers.Concatenate(name="fusion")(features)
    outputs = dense_head(x, dense_units, n_outputs, float(dropout), init)
    # keyed by name: the structure the datasets feed (no Keras structure warning)
    return keras.Model(inputs, outputs, name=name)
