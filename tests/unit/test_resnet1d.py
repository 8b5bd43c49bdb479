"""The residual 1D CNN against the design note's Table 1, by layer and by parameter."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from galstar.models import get_builder  # noqa: E402
from galstar.models.resnet1d import build_cnn1d, build_resnet1d  # noqa: E402

L = 10  # ten features (mag_g..z), one channel


def conv_params(k: int, c_in: int, c_out: int) -> int:
    return k * c_in * c_out + c_out


def dense_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def table1_layers(model) -> list[tuple[str, str]]:
    return [(layer.name, type(layer).__name__) for layer in model.layers]


def test_default_layers_match_table1():
    model = build_resnet1d(L)
    assert table1_layers(model) == [
        ("features", "InputLayer"),
        ("stem_conv", "Conv1D"),                       # Conv1D 64, k3, ReLU, L2
        ("block1_conv1", "Conv1D"), ("block1_conv2", "Conv1D"),   # Conv1D(64) x 2
        ("block1_add", "Add"), ("block1_relu", "Activation"),     # identity skip
        ("block2_conv1", "Conv1D"), ("block2_skip", "Conv1D"),    # 128, 1x1 skip
        ("block2_add", "Add"), ("block2_relu", "Activation"),
        ("block3_conv1", "Conv1D"), ("block3_skip", "Conv1D"),    # 256
        ("block3_add", "Add"), ("block3_relu", "Activation"),
        ("block4_conv1", "Conv1D"), ("block4_skip", "Conv1D"),    # 512
        ("block4_add", "Add"), ("block4_relu", "Activation"),
        ("flatten", "Flatten"),
        ("dense1", "Dense"), ("dense2", "Dense"), ("outputs", "Dense"),
    ]
    get = model.get_layer
    assert [get(n).filters for n in ("stem_conv", "block1_conv1", "block1_conv2",
                                     "block2_conv1", "block3_conv1", "block4_conv1")] == \
        [64, 64, 64, 128, 256, 512]
    for name in ("stem_conv", "block1_conv1", "block2_conv1", "block4_conv1"):
        conv = get(name)
        assert conv.kernel_size == (3,) and conv.strides == (1,) and conv.padding == "same"
        assert conv.kernel_regularizer is not None
    assert get("block2_skip").kernel_size == (1,)
    assert get("stem_conv").activation.__name__ == "relu"
    assert get("dense1").units == 256 and get("dense1").activation.__name__ == "tanh"
    assert get("dense1").kernel_regularizer is not None
    assert get("dense2").units == 128 and get("dense2").activation.__name__ == "relu"
    assert get("outputs").units == 1 and get("outputs").activation.__name__ == "linear"
    assert model.output_shape == (None, 1)
    assert not any("pool" in n for n, _ in table1_layers(model))  # no downsampling


def test_default_parameter_count_by_hand():
    expected = (
        conv_params(3, 1, 64)                                  # stem: 256
        + 2 * conv_params(3, 64, 64)                           # block 1: 24,704
        + conv_params(3, 64, 128) + conv_params(1, 64, 128)    # block 2: 33,024
        + conv_params(3, 128, 256) + conv_params(1, 128, 256)  # block 3: 131,584
        + conv_params(3, 256, 512) + conv_params(1, 256, 512)  # block 4: 525,312
        + dense_params(L * 512, 256)                           # flatten (L x 512) -> 256
        + dense_params(256, 128) + dense_params(128, 1)
    )
    assert expected == 2_058_881
    assert build_resnet1d(L).count_params() == expected
    # the plain CNN: the same stack without the three 1x1 projections
    plain = build_cnn1d(L)
    assert plain.count_params() == expected - (conv_params(1, 64, 128)
                                               + conv_params(1, 128, 256)
                                               + conv_params(1, 256, 512))
    assert not any(t in ("Add", "Concatenate") for _, t in table1_layers(plain))
    assert plain.get_layer("block1_conv2").activation.__name__ == "relu"


def test_concatenate_merge_doubles_block_channels():
    model = build_resnet1d(L, merge="concatenate")
    channels = [model.get_layer(f"block{b}_relu").output.shape[-1] for b in (1, 2, 3, 4)]
    assert channels == [128, 256, 512, 1024]  # main path width + skip width
    # the next block reads the concatenated channels
    assert model.get_layer("block2_conv1").kernel.shape == (3, 128, 128)
    assert model.get_layer("block2_skip").kernel.shape == (1, 128, 128)
    assert model.get_layer("dense1").kernel.shape == (L * 1024, 256)


def test_options_and_forward_pass():
    model = get_builder("resnet1d")(6, n_outputs=2, widths=(8, 16), block_convs=(2, 1),
                                    first_width=8, dense_units=(16, 8), dropout=0.2)
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [d.name for d in drops] == ["dropout1", "dropout2", "dropout3"]
    out = model.predict(np.zeros((3, 6, 1), dtype=np.float32), verbose=0)
    assert out.shape == (3, 2) and np.all(np.isfinite(out))
    assert get_builder("cnn1d") is build_cnn1d
    with pytest.raises(ValueError, match="merge"):
        build_resnet1d(6, merge="multiply")
    with pytest.raises(ValueError, match="block_convs"):
        build_resnet1d(6, widths=(8, 16, 32))


def test_float32_output_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_resnet1d(4, widths=(8,), block_convs=(2,), first_width=8,
                               dense_units=(8,), dense_activations=("tanh",))
        assert model.get_layer("stem_conv").compute_dtype == "float16"
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
