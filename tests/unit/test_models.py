"""GalEffNet builder: every backbone, weights handling, low resolutions, MC-dropout split."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from galstar.evaluation.uncertainty import mc_dropout_parts  # noqa: E402
from galstar.models import galeffnet  # noqa: E402
from galstar.models.galeffnet import BACKBONES, build_galeffnet  # noqa: E402

PAPER_BACKBONES = ["efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
                   "efficientnet_v2_b3", "efficientnet_v2_s", "resnet50", "resnet101",
                   "resnet152"]


def test_registry_has_every_backbone_the_issue_names():
    assert sorted(BACKBONES) == sorted(PAPER_BACKBONES)


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_every_backbone_builds_with_two_outputs(backbone):
    model = build_galeffnet(backbone, input_shape=(32, 32, 3), weights="none", dropout=0.29,
                            dense_units=16)
    assert model.output_shape == (None, 2)
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    out = keras.ops.convert_to_numpy(model(x, training=False))  # eager: no graph tracing
    assert out.shape == (2, 2) and np.all(np.isfinite(out))
    head = [layer.name for layer in model.layers[-4:]]
    assert head == ["pfeatx_pool", "pfeatx_dropout", "pfeatx_dense", "outputs"]
    assert model.get_layer("pfeatx_dropout").rate == pytest.approx(0.29)
    assert model.get_layer("pfeatx_dense").kernel_regularizer.l2 == pytest.approx(1e-3)
    keras.backend.clear_session()


@pytest.mark.parametrize("resolution", [16, 8])
def test_low_resolution_ablations_are_upsampled_inside_the_model(resolution):
    model = build_galeffnet("efficientnet_b0", input_shape=(resolution, resolution, 3),
                            dense_units=8)
    assert model.input_shape == (None, resolution, resolution, 3)
    assert model.get_layer("upsample").output.shape[1:3] == (32, 32)
    keras.backend.clear_session()


def test_imagenet_offline_gives_a_clear_error(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None")

    monkeypatch.setitem(galeffnet.BACKBONES, "efficientnet_b0", offline)
    with pytest.raises(RuntimeError, match="weights to 'none'"):
        build_galeffnet("efficientnet_b0", weights="imagenet", input_shape=(32, 32, 3))


def test_weights_path_must_exist_and_is_loaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="experiments.<name>.weights"):
        build_galeffnet("efficientnet_b0", weights=str(tmp_path / "missing.weights.h5"),
                        input_shape=(32, 32, 3))
    keras.utils.set_random_seed(1)
    source = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                               input_shape=(32, 32, 3))
    path = tmp_path / "b0.weights.h5"
    source.save_weights(path)
    model = build_galeffnet("efficientnet_b0", weights=str(path), input_shape=(32, 32, 3),
                            dense_units=8)
    loaded = model.get_layer(source.name).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(loaded, source.get_weights(), strict=True))
    keras.backend.clear_session()


def test_bad_settings_name_the_config_key():
    with pytest.raises(ValueError, match="backbone"):
        build_galeffnet("vit_b16", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="dropout"):
        build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dropout=1.5)


def test_input_scale_and_mc_split_reproduce_the_full_model():
    model = build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dense_units=8,
                            input_scale=[100.0, 200.0, 300.0])
    assert model.get_layer("input_scale").scale == [100.0, 200.0, 300.0]
    x = np.random.default_rng(1).random((3, 32, 32, 3), np.float32)
    features, head = mc_dropout_parts(model)
    direct = model.predict_on_batch(x)
    split = keras.ops.convert_to_numpy(head(features.predict_on_batch(x), training=False))
    np.testing.assert_allclose(split, direct, rtol=1e-5, atol=1e-5)
    keras.backend.clear_session()


def test_bn_momentum_reaches_every_backbone_batchnorm():
    model = build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dense_units=8,
                            bn_momentum=0.9)
    body = model.get_layer("efficientnetb0")
    norms = [la for la in body.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert len(norms) > 40 and all(la.momentum == 0.9 for la in norms)
    with pytest.raises(ValueError, match="bn_momentum"):
        build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), bn_momentum=1.0)
    keras.backend.clear_session()


def test_extra_inputs_are_standardised_inside_the_model(tmp_path):
    z = np.array([[0.05], [0.10], [0.30]], np.float32)
    stats = {"redshift": ([0.15], [0.1])}
    model = build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dense_units=8,
                            extra_inputs={"redshift": 1}, extra_stats=stats)
    layer = model.get_layer("standardise_redshift")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), (z - 0.15) / 0.1,
                               rtol=1e-5, atol=1e-6)
    x = np.random.default_rng(2).random((3, 32, 32, 3), np.float32)
    direct = model.predict_on_batch({"image": x, "redshift": z})
    features, head = mc_dropout_parts(model)  # z joins before the dropout: the split holds
    split = head(features.predict_on_batch({"image": x, "redshift": z}), training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(split), direct, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m.keras")  # the statistics travel with the model
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict_on_batch({"image": x, "redshift": z}), direct,
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="redshift"):
        build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dense_units=8,
                        extra_inputs={"redshift": 1}, extra_stats={"redshift": ([0.1], [0.0])})
    keras.backend.clear_session()
