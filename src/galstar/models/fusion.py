"""Image, spectrum and fused networks of the multi-modal method (seed 001).

Encoders map a (64, 64, 5) ugriz image or an (L, 2) spectrum (normalised flux, mask) to
a latent vector named ``<branch>_latent``; single-modality models put a regression head
on one latent, :func:`build_early_fusion` concatenates both (layer ``fused_latent``)
after :class:`ModalityDropout` and shares one head. Heads are Dense -> Dropout -> Dense
-> Dropout -> linear outputs, with no batch normalisation after the first dropout, so
MC dropout (:mod:`galstar.evaluation.uncertainty`) samples only the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

__all__ = ["ModalityDropout", "PositionChannel", "build_image_cnn", "build_spectrum_dense",
           "build_spectrum_cnn1d", "build_early_fusion", "latent_model", "OUTPUT"]

OUTPUT = "outputs"


@keras.saving.register_keras_serializable(package="galstar")
class ModalityDropout(keras.layers.Layer):
    """Zero one whole modality's latent for a random fraction of the training objects.

    In training, each object independently loses, with probability ``rate``, exactly one
    of its branches (chosen uniformly), never all of them, so the shared head cannot
    lean on one modality alone; at inference the layer is the identity. Not a
    ``keras.layers.Dropout``: MC dropout must never switch it on.

    Parameters
    ----------
    rate : float
        Probability in [0, 1) that an object loses one modality in a training step.
    seed : int, optional
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"modality dropout rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        inputs = list(inputs)
        if not training or self.rate == 0.0:
            return inputs
        n = len(inputs)
        batch = keras.ops.shape(inputs[0])[0]
        u = keras.random.uniform((batch, 1), seed=self.seed_generator)
        out = []
        for i, x in enumerate(inputs):
            # u in [rate i / n, rate (i + 1) / n) drops branch i: disjoint, total `rate`
            lo, hi = self.rate * i / n, self.rate * (i + 1) / n
            drop = keras.ops.logical_and(u >= lo, u < hi)
            out.append(x * keras.ops.cast(keras.ops.logical_not(drop), x.dtype))
        return out

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="galstar")
class PositionChannel(keras.layers.Layer):
    """Append the pixel position along a sequence (-1 to 1) as a last channel
    (CoordConv, Liu et al. 2018): convolutions are translation-equivariant, so the
    absolute position of a line, which is the redshift, is otherwise hard to read."""

    def call(self, inputs):
        length = keras.ops.shape(inputs)[1]
        position = keras.ops.linspace(-1.0, 1.0, length)
        position = keras.ops.cast(position, inputs.dtype)[None, :, None]
        position = keras.ops.broadcast_to(position, (keras.ops.shape(inputs)[0], length, 1))
        return keras.ops.concatenate([inputs, position], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def _regulariser(l2: float):
    return keras.regularizers.L2(float(l2)) if l2 else None


def _normalise(x, name: str, mean: Sequence[float] | None, variance: Sequence[float] | None):
    """Per-channel standardisation with the training inputs' statistics (kept in the model)."""
    if mean is None:
        return x
    return keras.layers.Normalization(axis=-1, mean=list(mean), variance=list(variance),
                                      name=f"{name}_normalise")(x)


def _check(n_outputs: int, dropout: float, widths: Sequence[int]) -> None:
    if int(n_outputs) < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if not widths or any(int(w) < 1 for w in widths):
        raise ValueError(f"widths must be a non-empty list of positive ints, got {list(widths)}")


def image_encoder(inputs, *, widths: Sequence[int] = (16, 32, 64), latent_units: int = 64,
                  l2: float = 1e-4, input_mean=None, input_variance=None):
    """Conv2D 3x3 + batch norm + ReLU + 2x2 max pooling per width, global average
    pooling, Dense ``image_latent``."""
    x = _normalise(inputs, "image", input_mean, input_variance)
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(int(width), 3, padding="same", use_bias=False,
                                kernel_regularizer=_regulariser(l2), name=f"image_conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"image_bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"image_relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"image_pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="image_gap")(x)
    return keras.layers.Dense(int(latent_units), activation="relu", name="image_latent",
                              kernel_regularizer=_regulariser(l2))(x)


def spectrum_encoder(inputs, *, kind: str = "cnn1d", widths: Sequence[int] = (8, 16, 32),
                     kernel_size: int = 7, pool: int = 4, hidden_units: int = 256,
                     latent_units: int = 64, downsample: int = 1, l2: float = 1e-4,
                     input_mean=None, input_variance=None):
    """``cnn1d``: Conv1D + batch norm + ReLU + max pooling per width, then flatten (the
    position of a feature is the redshift, so no global pooling); ``dense``: flatten,
    Dense ``hidden_units``. Both end in Dense ``spectrum_latent``. ``downsample`` > 1
    first averages that many pixels (flux and mask fraction): cheaper, coarser."""
    x = _normalise(inputs, "spectrum", input_mean, input_variance)
    if int(downsample) > 1:
        x = keras.layers.AveragePooling1D(int(downsample), name="spectrum_downsample")(x)
    if kind == "cnn1d":
        x = PositionChannel(name="spectrum_position")(x)
        for i, width in enumerate(widths):
            x = keras.layers.Conv1D(int(width), int(kernel_size), padding="same",
                                    use_bias=False, kernel_regularizer=_regulariser(l2),
                                    name=f"spectrum_conv{i}")(x)
            x = keras.layers.BatchNormalization(name=f"spectrum_bn{i}")(x)
            x = keras.layers.Activation("relu", name=f"spectrum_relu{i}")(x)
            x = keras.layers.MaxPooling1D(int(pool), name=f"spectrum_pool{i}")(x)
        x = keras.layers.Flatten(name="spectrum_flatten")(x)
    elif kind == "dense":
        x = keras.layers.Flatten(name="spectrum_flatten")(x)
        x = keras.layers.Dense(int(hidden_units), activation="relu", name="spectrum_hidden",
                               kernel_regularizer=_regulariser(l2))(x)
    else:
        raise ValueError(f"unknown spectrum encoder '{kind}'; choose cnn1d or dense")
    return keras.layers.Dense(int(latent_units), activation="relu", name="spectrum_latent",
                              kernel_regularizer=_regulariser(l2))(x)


def _head(x, n_outputs: int, dense_units: int, dropout: float, l2: float):
    x = keras.layers.Dropout(float(dropout), name="head_dropout0")(x)
    x = keras.layers.Dense(int(dense_units), activation="relu", name="head_dense",
                           kernel_regularizer=_regulariser(l2))(x)
    x = keras.layers.Dropout(float(dropout), name="head_dropout1")(x)
    return keras.layers.Dense(int(n_outputs), name=OUTPUT, dtype="float32")(x)


def build_image_cnn(input_shape: Sequence[int], n_outputs: int, *,
                    widths: Sequence[int] = (16, 32, 64), latent_units: int = 64,
                    dense_units: int = 64, dropout: float = 0.1, l2: float = 1e-4,
                    input_mean=None, input_variance=None) -> keras.Model:
    """Image-only CNN (input ``image``, (h, w, bands)); with dropout > 0 it is the
    Bayesian (MC-dropout) CNN of the active-learning loop."""
    _check(n_outputs, dropout, widths)
    image = keras.Input(tuple(input_shape), name="image")
    latent = image_encoder(image, widths=widths, latent_units=latent_units, l2=l2,
                           input_mean=input_mean, input_variance=input_variance)
    return keras.Model({"image": image}, _head(latent, n_outputs, dense_units, dropout, l2),
                       name="image_cnn")


def _spectrum_model(kind: str, input_shape, n_outputs, *, dense_units, dropout, l2,
                    **encoder) -> keras.Model:
    _check(n_outputs, dropout, encoder.get("widths", (1,)))
    spectrum = keras.Input(tuple(input_shape), name="spectrum")
    latent = spectrum_encoder(spectrum, kind=kind, l2=l2, **encoder)
    return keras.Model({"spectrum": spectrum},
                       _head(latent, n_outputs, dense_units, dropout, l2),
                       name=f"spectrum_{kind}")


def build_spectrum_dense(input_shape: Sequence[int], n_outputs: int, *,
                         hidden_units: int = 256, latent_units: int = 64,
                         dense_units: int = 64, downsample: int = 1, dropout: float = 0.1,
                         l2: float = 1e-4, input_mean=None, input_variance=None
                         ) -> keras.Model:
    """Fully connected spectrum model on the flattened (L, 2) input ``spectrum``."""
    return _spectrum_model("dense", input_shape, n_outputs, dense_units=dense_units,
                           dropout=dropout, l2=l2, hidden_units=hidden_units,
                           latent_units=latent_units, downsample=downsample,
                           input_mean=input_mean, input_variance=input_variance)


def build_spectrum_cnn1d(input_shape: Sequence[int], n_outputs: int, *,
                         widths: Sequence[int] = (8, 16, 32), kernel_size: int = 7,
                         pool: int = 4, latent_units: int = 64, dense_units: int = 64,
                         downsample: int = 1, dropout: float = 0.1, l2: float = 1e-4,
                         input_mean=None, input_variance=None) -> keras.Model:
    """1D-convolutional spectrum model on the (L, 2) input ``spectrum``."""
    return _spectrum_model("cnn1d", input_shape, n_outputs, dense_units=dense_units,
                           dropout=dropout, l2=l2, widths=widths, kernel_size=kernel_size,
                           pool=pool, latent_units=latent_units, downsample=downsample,
                           input_mean=input_mean, input_variance=input_variance)


def build_early_fusion(image_shape: Sequence[int], spectrum_shape: Sequence[int],
                       n_outputs: int, *, image_widths: Sequence[int] = (16, 32, 64),
                       spectrum_widths: Sequence[int] = (8, 16, 32), kernel_size: int = 7,
                       pool: int = 4, latent_units: int = 64, dense_units: int = 64,
                       downsample: int = 1, dropout: float = 0.1,
                       modality_dropout: float = 0.0,
                       l2: float = 1e-4, image_mean=None, image_variance=None,
                       spectrum_mean=None, spectrum_variance=None,
                       seed: int | None = None) -> keras.Model:
    """Dual-stream early fusion: image and spectrum encoders, :class:`ModalityDropout`
    over their latents, concatenation (``fused_latent``) and one shared head."""
    _check(n_outputs, dropout, image_widths)
    _check(n_outputs, dropout, spectrum_widths)
    image = keras.Input(tuple(image_shape), name="image")
    spectrum = keras.Input(tuple(spectrum_shape), name="spectrum")
    latents = [
        image_encoder(image, widths=image_widths, latent_units=latent_units, l2=l2,
                      input_mean=image_mean, input_variance=image_variance),
        spectrum_encoder(spectrum, kind="cnn1d", widths=spectrum_widths,
                         kernel_size=kernel_size, pool=pool, latent_units=latent_units,
                         downsample=downsample, l2=l2, input_mean=spectrum_mean,
                         input_variance=spectrum_variance),
    ]
    latents = ModalityDropout(modality_dropout, seed=seed, name="modality_dropout")(latents)
    fused = keras.layers.Concatenate(name="fused_latent")(latents)
    return keras.Model({"image": image, "spectrum": spectrum},
                       _head(fused, n_outputs, dense_units, dropout, l2), name="early_fusion")


def latent_model(model: keras.Model, layer: str = "fused_latent") -> keras.Model:
    """The part of ``model`` from its inputs to layer ``layer`` (the latent maps)."""
    try:
        out = model.get_layer(layer).output
    except ValueError:
        raise ValueError(f"model {model.name} has no layer '{layer}'") from None
    return keras.Model(model.input, out, name=f"{model.name}_{layer}")
