"""The image networks of Wu & Peek (2020): xresnet18 with batch normalisation, network
deconvolution or both, and the three-convolution baselines.

Every builder takes channels-last (S, S, 5) grizy cutouts, normalises them with the
training split's per-channel mean and variance (a ``Normalization`` layer), and ends in
global average pooling, dropout and a linear layer to the 6 latent targets (layer
``outputs``); the dropout is the MC-dropout of the generic prediction.

* ``xresnet18`` (fastai's XResNet, Bag of Tricks): a stem of three 3x3 convolutions
  (32, 32, 64; the first with stride 2) and a 3x3 max-pooling of stride 2, then four
  stages of two residual blocks (widths 64-128-256-512, stride 2 from the second);
  each block is conv-BN-Mish, conv-BN (zero-initialised scale), added to the identity
  path (2x2 average pooling where it strides, a 1x1 conv-BN where the width changes),
  then Mish; optional simple self-attention (fastai's ``SimpleSelfAttention``) in the
  last block of the first stage.
* ``xresnet18_deconv``: every convolution, the 1x1 shortcuts too, is a
  :class:`~galstar.models.deconv.FastDeconv2D` and there is no batch normalisation.
* ``xresnet18_hybrid``: deconvolution in the stem only, batch normalisation in the body.
* ``simple_cnn``: three stride-2 3x3 convolutions (32, 32, 64) with batch normalisation
  and ReLU, then the head; ``simple_deconv`` the same with deconvolution, no BN.

Kaiming (``he_normal``) initialisation throughout; batch-norm momentum 0.9 (PyTorch's
0.1, as the paper's fastai models). Widths and block counts are
parameters, so the demo can shrink them; the paper's are the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from galstar.models.deconv import FastDeconv2D

__all__ = ["SimpleSelfAttention", "build_xresnet18", "build_xresnet18_deconv",
           "build_xresnet18_hybrid", "build_simple_cnn", "build_simple_deconv", "OUTPUT",
           "ARCHITECTURES"]

OUTPUT = "outputs"
INIT = "he_normal"


@keras.saving.register_keras_serializable(package="galstar")
class SimpleSelfAttention(layers.Layer):
    """fastai's ``SimpleSelfAttention`` (ks=1, not symmetric), channels last:
    ``x + gamma (x W) (x^T x)`` over the flattened pixels, ``gamma`` starting at 0 so
    that the block begins as the identity."""

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(channels, channels),
                                      initializer=INIT)
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, inputs):
        shape = ops.shape(inputs)
        x = ops.reshape(inputs, (shape[0], -1, shape[-1]))  # (b, pixels, c)
        gram = ops.matmul(ops.transpose(x, (0, 2, 1)), x)  # (b, c, c)
        out = ops.matmul(ops.matmul(x, ops.cast(self.kernel, x.dtype)), gram)
        return inputs + ops.cast(self.gamma, x.dtype) * ops.reshape(out, shape)


def _conv(x, filters, kernel_size, strides, *, deconv, norm, act, name, zero_scale=False):
    """Conv (or deconv) -> batch norm (when ``norm``) -> activation (when ``act``)."""
    if deconv:
        x = FastDeconv2D(filters, kernel_size, strides=strides, padding="same",
                         use_bias=True, kernel_initializer=INIT, name=f"{name}_deconv")(x)
    else:
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                          use_bias=not norm, kernel_initializer=INIT, name=f"{name}_conv")(x)
    if norm:
        # momentum 0.9 = PyTorch's 0.1 (the paper's fastai models): Keras' 0.99 leaves
        # the moving statistics near their start after the few hundred steps of a demo
        x = layers.BatchNormalization(momentum=0.9,
                                      gamma_initializer="zeros" if zero_scale else "ones",
                                      name=f"{name}_bn")(x)
    if act:
        x = layers.Activation(act, name=f"{name}_act")(x)
    return x


def _res_block(x, filters, strides, *, deconv, norm, attention, name):
    conv = dict(deconv=deconv, norm=norm)
    y = _conv(x, filters, 3, strides, act="mish", name=f"{name}_a", **conv)
    y = _conv(y, filters, 3, 1, act=None, zero_scale=True, name=f"{name}_b", **conv)
    if attention:
        y = SimpleSelfAttention(name=f"{name}_attention")(y)
    shortcut = x
    if strides != 1:
        shortcut = layers.AveragePooling2D(2, strides=strides, padding="same",
                                           name=f"{name}_pool")(shortcut)
    if int(x.shape[-1]) != filters:
        shortcut = _conv(shortcut, filters, 1, 1, act=None, name=f"{name}_shortcut", **conv)
    return layers.Activation("mish", name=f"{name}_out")(layers.Add(name=f"{name}_add")(
        [y, shortcut]))


def _inputs(input_shape, input_mean, input_variance, downsample=1):
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if input_mean is not None:
        x = layers.Normalization(axis=-1, mean=input_mean, variance=input_variance,
                                 name="image_norm")(x)
    if int(downsample) > 1:  # block-averaged pixels: a cheaper network on large cutouts
        x = layers.AveragePooling2D(int(downsample), name="image_downsample")(x)
    return inputs, x


def _head(x, n_outputs, dropout):
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(n_outputs, kernel_initializer=INIT, name=OUTPUT, dtype="float32")(x)


def _xresnet(input_shape, n_outputs, *, stem_deconv, body_deconv, name,
             stem_widths=(32, 32, 64), widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2),
             self_attention=False, dropout=0.0, input_mean=None, input_variance=None,
             downsample=1):
    if len(widths) != len(blocks):
        raise ValueError(f"xresnet: widths {list(widths)} and blocks {list(blocks)} differ "
                         "in length (one width per stage)")
    inputs, x = _inputs(input_shape, input_mean, input_variance, downsample)
    for i, width in enumerate(stem_widths):
        x = _conv(x, int(width), 3, 2 if i == 0 else 1, deconv=stem_deconv,
                  norm=not stem_deconv, act="mish", name=f"stem{i}")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (width, n_blocks) in enumerate(zip(widths, blocks, strict=True)):
        for b in range(int(n_blocks)):
            x = _res_block(x, int(width), 2 if (s > 0 and b == 0) else 1,
                           deconv=body_deconv, norm=not body_deconv,
                           attention=bool(self_attention) and s == 0 and b == n_blocks - 1,
                           name=f"stage{s}_block{b}")
    return keras.Model(inputs, _head(x, n_outputs, float(dropout)), name=name)


def build_xresnet18(input_shape: Sequence[int], n_outputs: int, **options) -> keras.Model:
    """xresnet18 with batch normalisation (see the module docstring for ``options``:
    stem_widths, widths, blocks, self_attention, dropout, input_mean, input_variance,
    downsample: the cutouts block-averaged by this factor first)."""
    return _xresnet(input_shape, n_outputs, stem_deconv=False, body_deconv=False,
                    name="xresnet18", **options)


def build_xresnet18_deconv(input_shape: Sequence[int], n_outputs: int, **options
                           ) -> keras.Model:
    """xresnet18 with network deconvolution in every convolution and no batch norm."""
    return _xresnet(input_shape, n_outputs, stem_deconv=True, body_deconv=True,
                    name="xresnet18_deconv", **options)


def build_xresnet18_hybrid(input_shape: Sequence[int], n_outputs: int, **options
                           ) -> keras.Model:
    """xresnet18 with a deconvolution stem and a batch-normalised body."""
    return _xresnet(input_shape, n_outputs, stem_deconv=True, body_deconv=False,
                    name="xresnet18_hybrid", **options)


def _simple(input_shape, n_outputs, *, deconv, name, widths=(32, 32, 64), dropout=0.0,
            input_mean=None, input_variance=None, downsample=1):
    inputs, x = _inputs(input_shape, input_mean, input_variance, downsample)
    for i, width in enumerate(widths):
        x = _conv(x, int(width), 3, 2, deconv=deconv, norm=not deconv, act="relu",
                  name=f"conv{i}")
    return keras.Model(inputs, _head(x, n_outputs, float(dropout)), name=name)


def build_simple_cnn(input_shape: Sequence[int], n_outputs: int, **options) -> keras.Model:
    """Three stride-2 conv-BN-ReLU layers (``widths``, default 32, 32, 64) and the head."""
    return _simple(input_shape, n_outputs, deconv=False, name="simple_cnn", **options)


def build_simple_deconv(input_shape: Sequence[int], n_outputs: int, **options) -> keras.Model:
    """Three stride-2 deconv-ReLU layers and the head."""
    return _simple(input_shape, n_outputs, deconv=True, name="simple_deconv", **options)


#: Model name -> (builder, the options it takes besides dropout and the input statistics).
_XRESNET = ("stem_widths", "widths", "blocks", "self_attention", "downsample")
ARCHITECTURES = {
    "xresnet18": (build_xresnet18, _XRESNET),
    "xresnet18_deconv": (build_xresnet18_deconv, _XRESNET),
    "xresnet18_hybrid": (build_xresnet18_hybrid, _XRESNET),
    "simple_cnn": (build_simple_cnn, ("widths", "downsample")),
    "simple_deconv": (build_simple_deconv, ("widths", "downsample")),
}
