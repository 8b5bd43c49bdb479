"""GalEffNet: a ``keras.applications`` backbone with the PFeatX regression head.

Zhong et al. (2024) put a "Parameter Feature Extractor" (PFeatX) on top of an
EfficientNet: global average pooling, dropout, a 1024-unit ReLU layer with L2 1e-3
and one linear output per target. The paper says EfficientNet-B3, the published code
used EfficientNetV2-B3; both (and the paper's Table 1 alternatives) are in the registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from galstar.models.backbones import BACKBONE_APPLICATIONS

__all__ = ["BACKBONES", "MIN_BACKBONE_SIZE", "build_galeffnet"]

#: Backbone name (config ``experiments.<name>.backbone``) -> keras.applications builder.
BACKBONES: dict[str, Callable[..., keras.Model]] = {
    name: getattr(keras.applications, attr) for name, attr in BACKBONE_APPLICATIONS.items()
}

#: keras.applications refuses inputs smaller than this; low-resolution ablations
#: (16, 8 px) are upsampled inside the model, which adds no information.
MIN_BACKBONE_SIZE = 32

# Caffe-style ImageNet channel means (ResNet expects mean-subtracted 0-255 BGR input;
# g, r, z are fed in that order, i.e. bluest band first).
_CAFFE_MEANS = (103.939, 116.779, 123.68)

# Layer names (the head's dropout is the first Dropout: MC dropout samples from there).
FEATURES = "pfeatx_pool"
DROPOUT = "pfeatx_dropout"
DENSE = "pfeatx_dense"
OUTPUT = "outputs"


def _resolve_weights(weights: str | None) -> str | None:
    """Map the config value ``weights`` (imagenet | none | path) to keras' argument."""
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights).lower() == "imagenet":
        return "imagenet"
    path = Path(os.path.expanduser(str(weights)))
    if not path.is_file():
        raise FileNotFoundError(
            f"config experiments.<name>.weights: backbone weights file {path} does not exist "
            "(use 'imagenet', 'none' or the path of a keras .weights.h5 file)"
        )
    return str(path)


def _build_backbone(
    backbone: str, weights: str | None, input_shape: tuple[int, int, int]
) -> keras.Model:
    if backbone not in BACKBONES:
        raise ValueError(
            f"config experiments.<name>.backbone: unknown backbone '{backbone}'; "
            f"choose one of {sorted(BACKBONES)}"
        )
    resolved = _resolve_weights(weights)
    try:
        return BACKBONES[backbone](include_top=False, weights=resolved, input_shape=input_shape)
    except Exception as err:  # keras raises a bare Exception on URL failures
        if resolved == "imagenet" and ("URL fetch failure" in str(err) or isinstance(err, OSError)):
            raise RuntimeError(
                f"cannot download ImageNet weights for backbone '{backbone}' (no network?): "
                f"{err}. Set experiments.<name>.weights to 'none' (train from scratch) or to "
                "the path of a local .weights.h5 file, or pre-populate ~/.keras/models."
            ) from err
        raise


def _standardised(tensor, stats):
    """``tensor`` standardised by a fixed (mean, std) per column (saved with the model)."""
    if stats is None:
        return tensor
    mean, std = (np.asarray(v, dtype="float64").ravel() for v in stats)
    if np.any(~np.isfinite(std)) or np.any(std <= 0):
        raise ValueError(f"extra input '{tensor.name}': standard deviation must be > 0, "
                         f"got {std.tolist()}")
    return keras.layers.Normalization(mean=mean.tolist(), variance=(std ** 2).tolist(),
                                      name=f"standardise_{tensor.name}")(tensor)


def build_galeffnet(
    backbone: str = "efficientnet_b3",
    *,
    input_shape: tuple[int, int, int] = (64, 64, 3),
    n_outputs: int = 2,
    weights: str | None = "none",
    dropout: float = 0.29,
    dense_units: int = 1024,
    l2: float = 1e-3,
    input_scale: Sequence[float] | None = None,
    bn_momentum: float | None = None,
    extra_inputs: dict[str, int] | None = None,
    extra_stats: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> keras.Model:
    """Build GalEffNet: input scaling, backbone (General Feature Extraction), PFeatX head.

    Parameters
    ----------
    backbone : str
        Key of :data:`BACKBONES`.
    input_shape : tuple of int
        (height, width, channels) of the preprocessed images; channels must be 3.
    n_outputs : int
        Number of regression targets (2: log M*, log sSFR).
    weights : str or None
        ``"imagenet"``, ``"none"``/None (random init) or a path to backbone weights.
    dropout : float
        Dropout rate after global average pooling (paper code: 0.2864); also the
        source of the MC-dropout uncertainty.
    dense_units, l2 : int, float
        Width and L2 factor of the hidden dense layer (1024, 1e-3).
    input_scale : sequence of float, optional
        Per-channel factor mapping image units onto the 0-255 range the backbones
        expect (see :func:`galstar.training.data.pixel_scale`). Default 1.
    bn_momentum : float, optional
        Momentum of the backbone's batch-normalisation moving statistics (keras: 0.99).
        Training from scratch on a few thousand images, 0.99 lets the inference-mode
        statistics lag the weights by ~100 steps (validation loss spikes); 0.9 follows.
    extra_inputs : dict, optional
        Name -> width of catalogue inputs (e.g. ``{"redshift": 1}``) concatenated with
        the pooled image features before the head's dropout, so the head sees them beside
        the pixels (and learns with and without them, as with modality dropout).
    extra_stats : dict, optional
        Name -> (mean, std) per column of an extra input on the training split: the
        model standardises it (a raw redshift of ~0.1 beside the features would need
        large, L2-penalised weights to matter). Default: used as given.

    Returns
    -------
    keras.Model
        Model mapping (batch, h, w, 3) float32 images to (batch, n_outputs) scaled labels.
    """
    height, width, channels = input_shape
    if channels != 3:
        raise ValueError(f"GalEffNet expects 3-channel images, got input_shape={input_shape}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"config experiments.<name>.dropout must be in [0, 1), got {dropout}")
    scale = [1.0] * 3 if input_scale is None else [float(s) for s in input_scale]
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if min(height, width) < MIN_BACKBONE_SIZE:
        x = keras.layers.Resizing(
            MIN_BACKBONE_SIZE, MIN_BACKBONE_SIZE, interpolation="bilinear", name="upsample"
        )(x)
    size = (max(height, MIN_BACKBONE_SIZE), max(width, MIN_BACKBONE_SIZE), 3)
    offset = [-m for m in _CAFFE_MEANS] if backbone.startswith("resnet") else [0.0] * 3
    x = keras.layers.Rescaling(scale=scale, offset=offset, name="input_scale")(x)
    body = _build_backbone(backbone, weights, size)
    if bn_momentum is not None:
        if not 0.0 < bn_momentum < 1.0:
            raise ValueError(f"config experiments.<name>.bn_momentum must be in (0, 1), "
                             f"got {bn_momentum}")
        for layer in body.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    features = body(x)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES)(features)
    extras = [keras.Input(shape=(int(width),), name=name)
              for name, width in (extra_inputs or {}).items()]
    if extras:
        x = keras.layers.Concatenate(name="pfeatx_catalogue")(
            [x, *(_standardised(e, (extra_stats or {}).get(e.name)) for e in extras)])
    x = keras.layers.Dropout(dropout, name=DROPOUT)(x)
    x = keras.layers.Dense(
        dense_units, activation="relu", kernel_regularizer=keras.regularizers.L2(l2), name=DENSE
    )(x)
    # float32 outputs keep the loss numerically safe under mixed precision.
    outputs = keras.layers.Dense(n_outputs, dtype="float32", name=OUTPUT)(x)
    # Inputs keyed by name, the structure the datasets feed (galstar.training.data).
    return keras.Model({t.name: t for t in [inputs, *extras]}, outputs,
                       name="galeffnet_" + backbone)
