"""Image networks of spectra_from_images (galstar.models.xresnet): layouts and sizes."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from galstar.evaluation.uncertainty import mc_dropout_parts  # noqa: E402
from galstar.models.deconv import FastDeconv2D  # noqa: E402
from galstar.models.xresnet import ARCHITECTURES, SimpleSelfAttention  # noqa: E402


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _kinds(model):
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)]
    deconvs = [la for la in model.layers if isinstance(la, FastDeconv2D)]
    bns = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    return convs, deconvs, bns


def test_paper_sizes():
    """At 5 channels: the paper's simple-cnn 29.7k and simple-deconv 29.6k parameters;
    xresnet18 (the fastai layout) 11.20 M, not the paper's 6.73 M (its table gives the
    same count for all three xresnets; the text specifies no other layout)."""
    sizes = {name: _trainable(builder((64, 64, 5), 6, dropout=0.1))
             for name, (builder, _) in ARCHITECTURES.items()}
    assert sizes["simple_cnn"] == 29_734
    assert sizes["simple_deconv"] == 29_606
    assert sizes["xresnet18"] == 11_199_398
    # deconv: a bias per conv instead of BN's two; hybrid: the stem's BN replaced
    assert abs(sizes["xresnet18_deconv"] - sizes["xresnet18"]) < 10_000
    assert abs(sizes["xresnet18_hybrid"] - sizes["xresnet18"]) < 1_000


def test_layouts():
    full = ARCHITECTURES["xresnet18"][0]((64, 64, 5), 6, dropout=0.1)
    convs, deconvs, bns = _kinds(full)
    # stem 3 + 4 stages x 2 blocks x 2 convs + 3 shortcuts (64->128->256->512)
    assert len(convs) == 3 + 16 + 3 and not deconvs and len(bns) == len(convs)
    assert full.get_layer("stem0_conv").strides == (2, 2)
    deconv = ARCHITECTURES["xresnet18_deconv"][0]((64, 64, 5), 6, dropout=0.1)
    convs, deconvs, bns = _kinds(deconv)
    assert not convs and not bns and len(deconvs) == 22
    assert {d.kernel_size for d in deconvs if "shortcut" in d.name} == {1}
    hybrid = ARCHITECTURES["xresnet18_hybrid"][0]((64, 64, 5), 6, dropout=0.1)
    convs, deconvs, bns = _kinds(hybrid)
    assert [d.name for d in deconvs] == ["stem0_deconv", "stem1_deconv", "stem2_deconv"]
    assert len(convs) == 19 and len(bns) == 19
    # the channel blocks of the 512-wide body deconvs are 64 channels (capped)
    last = deconv.get_layer("stage3_block1_b_deconv")
    assert last.block_size == 64 and last.n_blocks == 8


def test_narrow_widths_attention_and_dropout_head():
    builder = ARCHITECTURES["xresnet18_hybrid"][0]
    model = builder((32, 32, 5), 6, stem_widths=[8, 8, 16], widths=[16, 32], blocks=[1, 1],
                    self_attention=True, dropout=0.2, input_mean=[0.0] * 5,
                    input_variance=[1.0] * 5)
    assert model.output_shape == (None, 6)
    attention = [la for la in model.layers if isinstance(la, SimpleSelfAttention)]
    assert [la.name for la in attention] == ["stage0_block0_attention"]
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x, training=True))
    assert out.shape == (4, 6) and np.isfinite(out).all()
    features, head = mc_dropout_parts(model)  # the generic MC-dropout prediction works
    assert head.layers[-1].name == "outputs"
    with pytest.raises(ValueError, match="widths"):
        builder((32, 32, 5), 6, widths=[16, 32], blocks=[1, 1, 1])


def test_self_attention_starts_as_identity_and_learns():
    layer = SimpleSelfAttention()
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype("float32")
    assert np.allclose(keras.ops.convert_to_numpy(layer(x)), x)
    layer.gamma.assign(0.5)
    assert not np.allclose(keras.ops.convert_to_numpy(layer(x)), x)
