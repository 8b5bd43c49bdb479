"""Spectrum InfoVAE (galstar.models.spectrum_vae) and the latent targets of
spectra_from_images (galstar.methods.spectra_from_images_vae)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from galstar import paths  # noqa: E402
from galstar.models.spectrum_vae import (  # noqa: E402
    InfoVAELoss,
    build_vae,
    gaussian_mmd,
    kl_divergence,
    reconstruction_loss,
    split_outputs,
)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_shapes():
    vae, encoder, decoder = build_vae(1000, (549, 110), 10, seed=0)
    assert [la.units for la in encoder.layers if hasattr(la, "units")] == [549, 110, 10, 10]
    assert [la.units for la in decoder.layers if hasattr(la, "units")] == [110, 549, 1000]
    x = np.random.default_rng(0).normal(size=(3, 1000)).astype("float32")
    out = _np(vae({"flux": x, "weight": np.ones_like(x)}, training=True))
    assert out.shape == (3, 1000 + 4 * 10 + 1000)
    recon, mean, log_var, z, prior, weight = split_outputs(out, 1000, 10)
    assert recon.shape == (3, 1000) and z.shape == prior.shape == (3, 10)
    assert np.allclose(weight, 1.0)
    assert not np.allclose(z, mean)  # a draw in training
    infer = split_outputs(_np(vae({"flux": x, "weight": np.ones_like(x)}, training=False)),
                          1000, 10)
    assert np.allclose(infer[3], infer[1])  # the mean at inference


def test_loss_terms_known_cases():
    flux = np.array([[1.0, 2.0, 3.0]], "float32")
    recon = np.array([[1.5, 2.0, 1.0]], "float32")
    assert _np(reconstruction_loss(flux, recon, np.zeros_like(flux))) == pytest.approx([0.0])
    w = np.array([[4.0, 1.0, 0.5]], "float32")  # 0.5 * (4 * 0.25 + 0 + 0.5 * 4) = 1.5
    assert _np(reconstruction_loss(flux, recon, w)) == pytest.approx([1.5])
    assert _np(kl_divergence(np.zeros((1, 4), "float32"), np.zeros((1, 4), "float32"))) \
        == pytest.approx([0.0])
    # KL(N(1, e^1) || N(0, 1)) per dimension = -0.5 (1 + 1 - 1 - e) = 0.5 (e - 1)
    kl = _np(kl_divergence(np.ones((1, 3), "float32"), np.ones((1, 3), "float32")))
    assert kl == pytest.approx([1.5 * (np.e - 1)], rel=1e-5)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6)).astype("float32")
    assert float(_np(gaussian_mmd(a, a))) == pytest.approx(0.0, abs=1e-6)
    same = float(_np(gaussian_mmd(a, rng.normal(size=(200, 6)).astype("float32"))))
    shifted = float(_np(gaussian_mmd(a, rng.normal(2.0, 1.0, (200, 6)).astype("float32"))))
    assert shifted > 10 * same > 0


def test_info_vae_loss_combines_the_terms():
    n, d = 5, 2
    flux = np.zeros((1, n), "float32")
    recon = np.ones((1, n), "float32")
    mean = np.ones((1, d), "float32")
    log_var = np.zeros((1, d), "float32")
    z = np.zeros((1, d), "float32")
    prior = np.zeros((1, d), "float32")  # MMD of one identical pair = 0
    weight = np.full((1, n), 2.0, "float32")
    y_pred = np.concatenate([recon, mean, log_var, z, prior, weight], axis=1)
    # recon 0.5 * 5 * 2 = 5; KL 0.5 * 2 = 1
    for alpha, expected in ((0.0, 6.0), (1.0, 5.0)):
        loss = InfoVAELoss(n, d, alpha=alpha, lambda_=50.0)
        assert float(_np(loss(flux, y_pred))) == pytest.approx(expected)
    y_pred[:, n + 3 * d:n + 4 * d] = 1.0  # |z - prior|^2 = 2: MMD^2 = 2 - 2 exp(-2 / (2 d))
    loss = InfoVAELoss(n, d, alpha=0.0, lambda_=11.0)
    assert float(_np(loss(flux, y_pred))) == pytest.approx(6.0 + 10 * (2 - 2 * np.exp(-0.5)),
                                                           rel=1e-5)


def test_vae_and_latent_targets_on_synthetic_spectra(tmp_path):
    from sfi_synthetic import write_sfi_contract

    from galstar.methods.spectra_from_images_vae import (
        decode_targets,
        latent_targets,
        load_transform,
        reduced_chi2,
        train_vae,
    )

    data = write_sfi_contract(tmp_path, n_objects=300, n_shards=2, image_size=8, seed=1)
    tables = [str(tmp_path / paths.fill(paths.SFI_TABLE, shard=f"shard-{s:03d}")) for s in (0, 1)]
    spectra = [str(tmp_path / paths.fill(paths.SFI_SPECTRA, shard=f"shard-{s:03d}"))
               for s in (0, 1)]
    out = {k: str(tmp_path / f"vae/{k}{ext}") for k, ext in
           (("encoder", ".keras"), ("decoder", ".keras"), ("normalisation", ".npz"),
            ("history", ".csv"), ("summary", ".json"))}
    settings = {"hidden": [64, 32], "latent_dim": 10, "alpha": 0.0, "lambda": 100.0,
                "epochs": 40, "batch_size": 32, "learning_rate": 2e-3, "patience": 40}
    summary = train_vae(tables, spectra, settings, seed=3, outputs=out)
    # the decoded latent beats the mean spectrum alone on the validation spectra
    assert summary["val_reduced_chi2"] < 0.5 * summary["val_reduced_chi2_mean_spectrum"]
    targets = latent_targets(tables, spectra, encoder=out["encoder"],
                             normalisation=out["normalisation"],
                             targets_path=tmp_path / "t.parquet",
                             transform_path=tmp_path / "transform.npz")
    latents = [f"latent_{i}" for i in range(1, 7)]
    train = targets[targets["split"] == "train"]
    assert np.allclose(train[latents].mean(), 0, atol=1e-6)
    assert np.allclose(train[latents].std(ddof=0), 1, atol=1e-6)  # training split only
    assert len(targets) == 300 and targets["object_id"].is_unique
    truth = data["table"].set_index("object_id").loc[targets["object_id"]]
    # the leading latent follows the galaxy's age (break, lines, colours)
    assert abs(np.corrcoef(targets["latent_1"], truth["age"])[0, 1]) > 0.7
    transform = load_transform(tmp_path / "transform.npz")
    decoder = keras.saving.load_model(out["decoder"], compile=False)
    val = targets["split"] == "val"
    decoded = decode_targets(targets.loc[val, latents].to_numpy(), transform, decoder)
    order = pd.Series(np.arange(len(data["table"])), index=data["table"]["object_id"])
    rows = order.loc[targets.loc[val, "object_id"]].to_numpy()
    flux, weight = data["spectra"][rows, 0], data["spectra"][rows, 1]
    mean_only = reduced_chi2(flux, transform["spectrum_mean"][None, :], weight)
    assert reduced_chi2(flux, decoded, weight) < 0.5 * mean_only  # 6 of 10 latents decode well
