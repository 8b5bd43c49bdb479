"""Residual 1D CNN of the low-Sigma_SFR design note (v1.4, Table 1) and its plain twin.

Table 1: Conv1D 64 (kernel 3, ReLU, L2); residual block 1 = two Conv1D(64) with an
identity skip; blocks 2-4 = Conv1D(128 / 256 / 512) with 1x1 Conv1D skip projections;
stride 1 and ``same`` padding throughout, no pooling; flatten; Dense 256 tanh (L2);
Dense 128 ReLU; one linear output. :func:`build_cnn1d` is the same stack without skips.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["BLOCK_CONVS", "WIDTHS", "build_cnn1d", "build_resnet1d"]

#: Filters of residual blocks 1-4 (Table 1) and convolutions per block.
WIDTHS = (64, 128, 256, 512)
BLOCK_CONVS = (2, 1, 1, 1)

# Layer name the MC-dropout code and the tests rely on.
OUTPUT = "outputs"


def _validate(input_length: int, n_channels: int, n_outputs: int, widths: Sequence[int],
              block_convs: Sequence[int], kernel_size: int, merge: str,
              dense_units: Sequence[int], dense_activations: Sequence[str],
              dropout: float, l2: float) -> None:
    checks = [
        (int(input_length) >= 1, f"input_length must be >= 1, got {input_length}"),
        (int(n_channels) >= 1, f"n_channels must be >= 1, got {n_channels}"),
        (int(n_outputs) >= 1, f"n_outputs must be >= 1, got {n_outputs}"),
        (len(widths) >= 1 and all(int(w) >= 1 for w in widths),
         f"widths must be a non-empty list of positive ints, got {list(widths)}"),
        (len(block_convs) == len(widths) and all(int(c) >= 1 for c in block_convs),
         f"block_convs {list(block_convs)} must give >= 1 convolution for each of the "
         f"{len(widths)} blocks"),
        (int(kernel_size) >= 1, f"kernel_size must be >= 1, got {kernel_size}"),
        (merge in ("add", "concatenate"), f"merge must be 'add' or 'concatenate', got '{merge}'"),
        (len(dense_activations) == len(dense_units),
         f"dense_activations {list(dense_activations)} must match dense_units "
         f"{list(dense_units)}"),
        (0.0 <= float(dropout) < 1.0, f"dropout must be in [0, 1), got {dropout}"),
        (float(l2) >= 0.0, f"l2 must be >= 0, got {l2}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def build_resnet1d(
    input_length: int,
    n_channels: int = 1,
    n_outputs: int = 1,
    *,
    first_width: int = 64,
    widths: Sequence[int] = WIDTHS,
    block_convs: Sequence[int] = BLOCK_CONVS,
    kernel_size: int = 3,
    merge: str = "add",
    residual: bool = True,
    dense_units: Sequence[int] = (256, 128),
    dense_activations: Sequence[str] = ("tanh", "relu"),
    dropout: float = 0.0,
    l2: float = 1e-4,
    input_mean: Sequence[float] | None = None,
    input_variance: Sequence[float] | None = None,
    name: str = "resnet1d",
) -> keras.Model:
    """Build the residual 1D CNN of the design note's Table 1.

    Parameters
    ----------
    input_length : int
        Sequence length L (number of features, padding included).
    n_channels : int
        Channels per position (1 for a feature vector).
    n_outputs : int
        Number of regression targets (1: log Sigma_SFR).
    first_width : int
        Filters of the stem convolution (64).
    widths : sequence of int
        Filters of each residual block (64, 128, 256, 512); the length sets the depth.
    block_convs : sequence of int
        Convolutions on each block's main path (2, 1, 1, 1 as Table 1).
    kernel_size : int
        Kernel of every non-skip convolution (3); stride 1, ``same`` padding.
    merge : {"add", "concatenate"}
        How a block joins its main path and its skip. With ``concatenate`` the block's
        output has twice its width in channels (the next block reads all of them).
    residual : bool
        False builds the plain CNN (no skips, every convolution ReLU).
    dense_units, dense_activations : sequence
        The head after flatten: (256, 128) with (tanh, ReLU).
    dropout : float
        Rate of a ``keras.layers.Dropout`` before each dense layer (after flatten, after
        each hidden dense layer); 0 adds no dropout layer.
    l2 : float
        L2 factor on every convolution kernel (skips included) and on the first dense
        layer, as Table 1 marks them; the other dense layers are not regularised.
    input_mean, input_variance : sequence of float, optional
        Per-position statistics of the training features: a ``Normalization`` layer
        standardises the input inside the model, so the scaling fitted on the training
        split is saved with it.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Uncompiled; maps (batch, L, n_channels) to (batch, n_outputs) float32, the
        output layer computing in float32 under a mixed-precision policy.

    Notes
    -----
    A block's skip is the identity when its width equals the previous stage's nominal
    width (the stem's for block 1), otherwise a 1x1 Conv1D projection to the width, so
    Table 1's identity / projection pattern holds for both merge modes. In residual
    blocks the last convolution is linear and the ReLU follows the merge (He et al.
    2016); the others use ReLU.
    """
    _validate(input_length, n_channels, n_outputs, widths, block_convs, kernel_size, merge,
              dense_units, dense_activations, dropout, l2)

    def reg() -> keras.regularizers.Regularizer | None:
        return keras.regularizers.L2(l2) if l2 > 0 else None

    def conv(x, filters: int, kernel: int, activation: str | None, layer: str):
        return keras.layers.Conv1D(filters, kernel, strides=1, padding="same",
                                   activation=activation, kernel_regularizer=reg(),
                                   name=layer)(x)

    inputs = keras.Input(shape=(int(input_length), int(n_channels)), name="features")
    x = inputs
    if input_mean is not None:
        x = keras.layers.Normalization(
            axis=1, mean=np.asarray(input_mean, dtype=float),
            variance=np.asarray(input_variance, dtype=float), name="feature_scaling")(x)
    x = conv(x, int(first_width), kernel_size, "relu", "stem_conv")
    previous = int(first_width)
    for b, (width, n_conv) in enumerate(zip(widths, block_convs, strict=True), start=1):
        width = int(width)
        block_in = x
        for c in range(1, int(n_conv) + 1):
            last = c == n_conv
            act = None if (residual and last) else "relu"
            x = conv(x, width, kernel_size, act, f"block{b}_conv{c}")
        if residual:
            skip = block_in if width == previous else conv(
                block_in, width, 1, None, f"block{b}_skip")
            joined = (keras.layers.Add(name=f"block{b}_add")([x, skip]) if merge == "add"
                      else keras.layers.Concatenate(name=f"block{b}_concat")([x, skip]))
            x = keras.layers.Activation("relu", name=f"block{b}_relu")(joined)
        previous = width
    x = keras.layers.Flatten(name="flatten")(x)
    for d, (units, act) in enumerate(zip(dense_units, dense_activations, strict=True), start=1):
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout{d}")(x)
        x = keras.layers.Dense(int(units), activation=act,
                               kernel_regularizer=reg() if d == 1 else None,
                               name=f"dense{d}")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"dropout{len(dense_units) + 1}")(x)
    outputs = keras.layers.Dense(int(n_outputs), activation="linear", dtype="float32",
                                 name=OUTPUT)(x)
    return keras.Model({inputs.name: inputs}, outputs, name=name)  # as the datasets feed


def build_cnn1d(input_length: int, n_channels: int = 1, n_outputs: int = 1, *,
                name: str = "cnn1d", **options) -> keras.Model:
    """The plain 1D CNN: :func:`build_resnet1d`'s layers and widths without the skips.

    Takes the keyword arguments of :func:`build_resnet1d` except ``merge`` and
    ``residual``: the note's "standard 1D CNN" that tended to collapse to the median.
    """
    for fixed in ("merge", "residual"):
        if fixed in options:
            raise TypeError(f"build_cnn1d has no '{fixed}': it is the network without skips")
    return build_resnet1d(input_length, n_channels, n_outputs, merge="add", residual=False,
                          name=name, **options)
