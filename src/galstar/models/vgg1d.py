"""The thesis's VGG-style 1D CNN for spectra, one arm or several fused.

Per input: Conv1D 64 -> 128 -> 256 (kernel 3, ``same`` padding, ReLU), max-pooling
(2) after the first two, global average pooling. Several inputs (VIS + NIR) are
separate branches whose pooled features are concatenated. Head: a linear layer (the
thesis), optionally after hidden dense layers; dropout before it is this package's
addition for MC-dropout uncertainties (0 builds the thesis's network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras

from galstar.models.starnet import check_inputs, dense_head, standardise

__all__ = ["build_vgg1d"]


def build_vgg1d(input_shapes: Mapping[str, Sequence[int]], n_outputs: int = 3, *,
                widths: Sequence[int] = (64, 128, 256), kernel_size: int = 3,
                pool_size: int = 2, dense_units: Sequence[int] = (), dropout: float = 0.0,
                input_stats: Mapping[str, Sequence[float]] | None = None,
                name: str = "vgg1d") -> keras.Model:
    """Build the VGG-style 1D CNN with one branch per input.

    Parameters
    ----------
    input_shapes : mapping of str to (length, channels)
        Model inputs by name (``{"vis": (4096, 1)}``; two names: fusion).
    n_outputs : int
        Regression targets.
    widths : sequence of int
        Filters of the convolutions (64, 128, 256); max-pooling follows every one but
        the last, which global average pooling follows.
    kernel_size, pool_size : int
        Convolution kernel (3) and pooling window (2).
    dense_units : sequence of int
        Hidden dense layers before the linear output (thesis: none).
    dropout : float
        Dropout before each dense layer; 0 (thesis) adds none.
    input_stats : mapping of str to (mean, variance), optional
        Per input: a ``Normalization`` layer standardises it inside the model with the
        training spectra's global mean and variance (saved with the model).
    name : str

    Returns
    -------
    keras.Model
        Uncompiled; works for any input length (global pooling).
    """
    check_inputs(input_shapes, n_outputs, dropout)
    if not widths:
        raise ValueError("widths must list at least one convolution")
    inputs, features = {}, []
    for arm, (length, channels) in input_shapes.items():
        x = inp = keras.Input(shape=(int(length), int(channels)), name=arm)
        x = standardise(x, arm, input_stats)
        for c, n in enumerate(widths, start=1):
            x = keras.layers.Conv1D(int(n), int(kernel_size), padding="same",
                                    activation="relu", name=f"{arm}_conv{c}")(x)
            if c < len(widths):
                x = keras.layers.MaxPooling1D(int(pool_size), name=f"{arm}_pool{c}")(x)
        features.append(keras.layers.GlobalAveragePooling1D(name=f"{arm}_gap")(x))
        inputs[arm] = inp
    x = features[0] if len(features) == 1 else keras.layers.Concatenate(name="fusion")(features)
    outputs = dense_head(x, dense_units, n_outputs, float(dropout), "glorot_uniform")
    # keyed by name: the structure the datasets feed (no Keras structure warning)
    return keras.Model(inputs, outputs, name=name)
