"""Network deconvolution layer (galstar.models.deconv, FastDeconv of Ye et al. 2020)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from galstar.models.deconv import FastDeconv2D, deconv_block_size, isqrt_newton_schulz  # noqa: E402


def _correlated_images(n, size, channels, seed):
    """Images whose channels are mixed and whose pixels are spatially smoothed: patches
    with a far-from-identity covariance (condition number ~6 for single pixels of 5
    channels, ~30 for their 3 x 3 patches)."""
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(n, size + 1, size + 1, channels))
    smooth = 0.6 * white[:, 1:, 1:] + 0.4 * white[:, :-1, 1:]  # neighbour correlation
    mix = np.eye(channels) + 0.2 * rng.normal(size=(channels, channels))
    return (2.0 * smooth @ mix + rng.normal(size=channels)).astype("float32")


def _identity_layer(kernel_size, channels, n_iter=5):
    """A deconv layer whose kernel maps each patch feature to one output channel, so
    its outputs are the whitened patches themselves (in the layer's feature order)."""
    features = kernel_size * kernel_size * channels
    layer = FastDeconv2D(features, kernel_size, padding="valid", use_bias=False, n_iter=n_iter)
    layer.build((None, None, None, channels))
    # feature index f = ((row * k) + col) * C + c (one block: C <= 64)
    kernel = np.eye(features, dtype="float32").reshape(kernel_size, kernel_size, channels,
                                                       features)
    layer.kernel.assign(kernel)
    return layer


def _output_covariance(out):
    flat = np.asarray(out, dtype=np.float64).reshape(-1, out.shape[-1])
    centred = flat - flat.mean(axis=0)
    return centred.T @ centred / len(flat), flat.mean(axis=0)


# Newton-Schulz after Frobenius normalisation converges slowly for the small eigenvalues
# of a large ill-conditioned covariance: 5 iterations (the paper's) whiten 5-d pixels to
# 1e-3, but leave 45-d 3 x 3 patches of condition ~30 only to ~0.15; 8 reach 1e-4.
@pytest.mark.parametrize("kernel_size, n_iter", [(1, 5), (3, 8)])
def test_training_mode_whitens_patches(kernel_size, n_iter):
    x = _correlated_images(64, 30, 5, seed=1)
    layer = _identity_layer(kernel_size, 5, n_iter)
    raw = keras.ops.convert_to_numpy(layer.patches(x))
    raw_cov = np.cov(raw.T)
    assert np.abs(raw_cov - np.eye(len(raw_cov))).max() > 0.5  # far from white to begin with
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    # the outputs at the sampled positions (stride 3) are the patches the statistics saw
    cov, mean = _output_covariance(out[:, ::3, ::3])
    assert np.abs(cov - np.eye(len(cov))).max() < 1e-2, np.abs(cov - np.eye(len(cov))).max()
    assert np.abs(mean).max() < 1e-4
    # and every other patch of these stationary images is white within sampling noise
    cov_all, _ = _output_covariance(out)
    assert np.abs(cov_all - np.eye(len(cov))).max() < 0.08


def test_five_iterations_approximate_patch_whitening():
    x = _correlated_images(64, 30, 5, seed=1)
    layer = _identity_layer(3, 5, n_iter=5)
    raw_cov = np.cov(keras.ops.convert_to_numpy(layer.patches(x)).T)
    cov, _ = _output_covariance(keras.ops.convert_to_numpy(layer(x, training=True))[:, ::3, ::3])
    before, after = (np.abs(c - np.eye(45)).max() for c in (raw_cov, cov))
    assert after < 0.25 and after < before / 10, (before, after)


def test_newton_schulz_inverse_square_root():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 12))
    spd = (a @ a.T / 12 + np.eye(12)).astype("float32")
    z = keras.ops.convert_to_numpy(isqrt_newton_schulz(keras.ops.convert_to_tensor(spd), 5))
    assert np.abs(z @ spd @ z - np.eye(12)).max() < 1e-2
    one_iter = keras.ops.convert_to_numpy(isqrt_newton_schulz(keras.ops.convert_to_tensor(spd), 1))
    assert np.abs(one_iter @ spd @ one_iter - np.eye(12)).max() > 0.1  # iterations matter


def test_block_size():
    assert deconv_block_size(5) == 5
    assert deconv_block_size(128) == 64
    assert deconv_block_size(96) == 32
    layer = FastDeconv2D(8, 3)
    layer.build((None, 16, 16, 128))
    assert layer.num_features == 9 * 64 and layer.n_blocks == 2
    assert tuple(layer.running_deconv.shape) == (576, 576)


def test_inference_uses_running_statistics():
    x = _correlated_images(32, 20, 4, seed=2)
    layer = FastDeconv2D(6, 3, padding="same", momentum=0.1)
    layer.build(x.shape)
    before = keras.ops.convert_to_numpy(layer(x, training=False))
    # untouched running stats: mean 0, whitening I -> an ordinary convolution
    plain = keras.ops.convert_to_numpy(keras.ops.conv(x, layer.kernel, padding="same"))
    assert np.allclose(before, plain + keras.ops.convert_to_numpy(layer.bias), atol=1e-4)
    layer(x, training=True)
    mean, deconv = (keras.ops.convert_to_numpy(v) for v in layer.statistics(x))
    assert np.allclose(layer.running_mean.numpy(), 0.1 * mean, atol=1e-5)
    expected = 0.9 * np.eye(len(deconv)) + 0.1 * deconv
    assert np.allclose(layer.running_deconv.numpy(), expected, atol=1e-5)
    # inference: the running statistics, whatever the batch (one image alone too)
    after = keras.ops.convert_to_numpy(layer(x[:1], training=False))
    kernel, bias = layer.folded(layer.running_mean, layer.running_deconv)
    folded = keras.ops.convert_to_numpy(keras.ops.conv(x[:1], kernel, padding="same") + bias)
    assert np.allclose(after, folded, atol=1e-4)
    assert not np.allclose(after, before[:1], atol=1e-2)
    for _ in range(60):  # the EMA converges to the batch statistics
        layer(x, training=True)
    assert np.allclose(layer.running_deconv.numpy(), deconv, atol=1e-3)


def test_strides_bias_and_serialisation(tmp_path):
    inputs = keras.Input((17, 17, 3))
    y = FastDeconv2D(8, 3, strides=2, use_bias=False, name="deconv")(inputs)
    y = FastDeconv2D(4, 1, strides=2, name="shortcut")(y)
    model = keras.Model(inputs, y)
    assert model.output_shape == (None, 5, 5, 4)
    assert len(model.get_layer("deconv").trainable_weights) == 1  # no bias
    x = _correlated_images(4, 17, 3, seed=3)
    model(x, training=True)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert np.allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                       atol=1e-5)


def test_gradients_reach_the_kernel():
    x = _correlated_images(8, 12, 3, seed=4)
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(
        FastDeconv2D(4, 3)(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    kernel = model.layers[1].kernel.numpy().copy()
    model.fit(x, np.ones((8, 1)), epochs=1, verbose=0)
    assert not np.allclose(model.layers[1].kernel.numpy(), kernel)


_JAX_PYTHON = os.environ.get("GALSTAR_JAX_PYTHON", sys.executable)


def _has_jax(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import jax"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_jax(_JAX_PYTHON),
                    reason="jax is not importable (set GALSTAR_JAX_PYTHON to a Python with jax)")
def test_runs_under_jax():
    """Whitening, running statistics and a fit step under KERAS_BACKEND=jax (a fresh
    interpreter: the backend is chosen when keras is first imported)."""
    script = textwrap.dedent("""
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from galstar.models.deconv import FastDeconv2D
        rng = np.random.default_rng(0)
        w = rng.normal(size=(64, 31, 31, 4))
        mix = np.eye(4) + 0.2 * rng.normal(size=(4, 4))
        x = ((0.6 * w[:, 1:, 1:] + 0.4 * w[:, :-1, 1:]) @ mix).astype("float32")
        layer = FastDeconv2D(36, 3, padding="valid", use_bias=False, n_iter=8)
        layer.build((None, None, None, 4))
        layer.kernel.assign(np.eye(36, dtype="float32").reshape(3, 3, 4, 36))
        out = np.asarray(layer(x, training=True))[:, ::3, ::3].reshape(-1, 36).astype(np.float64)
        cov = np.cov(out.T)
        assert np.abs(cov - np.eye(36)).max() < 1e-2, np.abs(cov - np.eye(36)).max()
        assert not np.allclose(np.asarray(layer.running_deconv), np.eye(36))
        inputs = keras.Input((30, 30, 4))
        y = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(FastDeconv2D(4, 3)(inputs)))
        model = keras.Model(inputs, y)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, np.ones((64, 1)), epochs=1, batch_size=16, verbose=0)
        running = np.asarray(model.layers[1].running_deconv)
        assert not np.allclose(running, np.eye(running.shape[0]))  # EMA updated in fit
        print("jax ok")
    """)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": src, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([_JAX_PYTHON, "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0 and "jax ok" in proc.stdout, proc.stderr[-3000:]
