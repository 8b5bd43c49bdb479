"""The multimodal method: model layers, modality dropout, stacking on validation only,
the active-learning loop, photo-z statistics, features and the contract checks."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from multimodal_synthetic import write_multimodal_contract

from galstar.evaluation.uncertainty import mc_dropout_parts
from galstar.methods import multimodal
from galstar.methods.multimodal_active import acquire, labels_to_reach, run_active_learning
from galstar.methods.multimodal_features import (
    feature_table,
    photoz_statistics,
)
from galstar.methods.multimodal_stacking import fit_stacking, tune_tabular
from galstar.models import get_builder
from galstar.models.fusion import ModalityDropout, latent_model

TARGETS = multimodal.TARGETS


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    return write_multimodal_contract(tmp_path_factory.mktemp("mm"), n_objects=240,
                                     n_pixels=1500, seed=3)


def _files(data, inputs=("image", "spectrum")):
    out = {"tables": data["tables"]}
    if "image" in inputs:
        out["image"] = data["images"]
    if "spectrum" in inputs:
        out["spectrum"] = data["spectra"]
    return out


# ------------------------------------------------------------------------- models


def test_each_builder_has_its_inputs_latents_and_nine_outputs():
    image = get_builder("image_cnn")((64, 64, 5), 9, widths=[4, 8, 16], latent_units=12)
    assert list(image.input) == ["image"] and image.output.shape == (None, 9)
    assert image.get_layer("image_latent").output.shape == (None, 12)
    assert [image.get_layer(f"image_pool{i}").output.shape[1] for i in range(3)] == [32, 16, 8]
    dense = get_builder("spectrum_dense")((500, 2), 9, hidden_units=20, latent_units=8)
    assert dense.get_layer("spectrum_flatten").output.shape == (None, 1000)
    assert dense.get_layer("spectrum_latent").output.shape == (None, 8)
    conv = get_builder("spectrum_cnn1d")((512, 2), 9, widths=[4, 8], pool=4, latent_units=8)
    # no global pooling: the position of a line along the spectrum is the redshift
    assert conv.get_layer("spectrum_flatten").output.shape == (None, 512 // 16 * 8)
    fused = get_builder("early_fusion")((32, 32, 5), (256, 2), 9, image_widths=[4],
                                        spectrum_widths=[4], latent_units=6)
    assert sorted(fused.input) == ["image", "spectrum"]
    assert fused.get_layer("fused_latent").output.shape == (None, 12)
    assert fused.output.shape == (None, 9)
    with pytest.raises(ValueError, match="dropout"):
        get_builder("image_cnn")((64, 64, 5), 9, dropout=1.0)


def test_modality_dropout_zeroes_one_branch_in_training_only():
    layer = ModalityDropout(0.6, seed=1)
    a, b = np.ones((4000, 3), np.float32), 2 * np.ones((4000, 5), np.float32)
    out_a, out_b = (keras.ops.convert_to_numpy(x) for x in layer([a, b], training=True))
    dropped_a, dropped_b = (out_a == 0).all(axis=1), (out_b == 0).all(axis=1)
    # whole branches: a row is either untouched or all zeros
    assert ((out_a == 1).all(axis=1) | dropped_a).all()
    assert ((out_b == 2).all(axis=1) | dropped_b).all()
    assert not (dropped_a & dropped_b).any()  # never both modalities
    assert abs(dropped_a.mean() - 0.3) < 0.03 and abs(dropped_b.mean() - 0.3) < 0.03
    inference = [keras.ops.convert_to_numpy(x) for x in layer([a, b], training=False)]
    assert np.array_equal(inference[0], a) and np.array_equal(inference[1], b)


def test_fusion_model_saves_and_mc_dropout_leaves_modalities_alone(tmp_path):
    model = get_builder("early_fusion")((16, 16, 5), (128, 2), 9, image_widths=[4],
                                        spectrum_widths=[4], latent_units=4,
                                        modality_dropout=0.5, dropout=0.2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded.get_layer("modality_dropout").rate == 0.5
    features, head = mc_dropout_parts(loaded)
    # the MC passes sample the head only: modality dropout sits in the deterministic part
    assert "modality_dropout" in [layer.name for layer in features.layers]
    assert "modality_dropout" not in [layer.name for layer in head.layers]
    x = {"image": np.random.default_rng(0).normal(size=(3, 16, 16, 5)).astype("float32"),
         "spectrum": np.ones((3, 128, 2), "float32")}
    assert latent_model(loaded)(x).shape == (3, 8)


# ------------------------------------------------------------------- data contract


def test_load_split_reads_the_kept_objects_of_a_split(contract):
    truth = contract["truth"]
    exp = {"inputs": ["image", "spectrum"]}
    split = multimodal.load_split(_files(contract), exp, "train")
    expected = truth[truth["kept"] & (truth["split"] == "train")]
    assert len(split) == len(expected)
    assert split.input_shapes == {"image": (64, 64, 5), "spectrum": (1500, 2)}
    assert split.targets == TARGETS
    np.testing.assert_allclose(split.labels[:, 0], expected["z"].to_numpy())


def test_missing_contract_column_is_an_error_naming_it(contract, tmp_path):
    table = pd.read_parquet(contract["tables"][0]).drop(columns="sfr_tot_p84")
    path = tmp_path / "shard-000.parquet"
    table.to_parquet(path)
    with pytest.raises(ValueError, match=r"shard-000\.parquet.*sfr_tot_p84"):
        multimodal.load_split({"tables": [str(path)], "image": contract["images"][:1]},
                              {"inputs": ["image"]}, "train")


def test_image_experiments_read_no_spectra(repo):
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    found = multimodal.experiments(config)
    image_inputs = multimodal.inputs(found["image-cnn"], ["shard-000"])
    assert set(image_inputs) == {"tables", "image"}
    # the image sample, not SDSS_TABLE (which the spectra feed): a grid change spares it
    assert image_inputs["tables"] == ["results/galaxies/sdss/image_sample/shard-000.parquet"]
    assert multimodal.inputs(found["early-fusion"], ["shard-000"])["tables"] == \
        ["results/galaxies/sdss/shard-000.parquet"]
    assert set(multimodal.inputs(found["early-fusion"], ["shard-000"])) == \
        {"tables", "image", "spectrum"}
    assert "spectrum_grid" not in found["image-cnn"]
    assert found["spectrum-cnn1d"]["spectrum_grid"]["n_pixels"] == 4620
    assert multimodal.config_problems(config) == []
    bad = copy.deepcopy(config)
    bad["multimodal"]["late_fusion"]["late-fusion"]["members"] = ["image-cnn", "nope"]
    bad["multimodal"]["active_learning"]["experiment"] = "spectrum-dense"
    problems = multimodal.config_problems(bad)
    assert any("late_fusion.late-fusion.members: 'nope'" in p for p in problems)
    assert any("active_learning.experiment" in p for p in problems)


# ------------------------------------------------------------------------ features


def test_spectrum_redshift_and_features_follow_the_truth(contract):
    feats = feature_table(contract["tables"], contract["spectra"], "spectrum", {},
                          contract["grid"])
    assert np.mean(np.abs(feats["z_spec_est"] - feats["z"]) < 0.001) > 0.98
    # star-forming galaxies: strong H-alpha, weak break
    assert np.corrcoef(feats["halpha"], feats["sfr_tot_median"])[0, 1] > 0.7
    assert np.corrcoef(feats["d4000"], feats["sfr_tot_median"])[0, 1] < -0.7
    image = feature_table(contract["tables"], contract["images"], "image", {})
    assert len(image) == len(feats) == int(contract["truth"]["kept"].sum())
    assert np.corrcoef(image["size_px"], image["z"])[0, 1] < -0.5


def test_photoz_statistics_by_hand():
    z = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    p = np.array([0.111, 0.2, 0.26, 0.4, 0.56])
    dz = (p - z) / (1 + z)  # 0.01, 0, -0.030769, 0, 0.04
    stats = photoz_statistics(z, p)
    assert stats["sigma_mad"] == pytest.approx(1.48 * 0.01)  # |dz - 0|: median 0.01
    assert stats["bias"] == pytest.approx(dz.mean())
    assert stats["f_out"] == pytest.approx(0.0)
    assert photoz_statistics(z, p, outlier=0.035)["f_out"] == pytest.approx(0.2)


# --------------------------------------------------------------- sklearn models


def _members(rng, n=300):
    split = np.where(np.arange(n) < 150, "val", "test")
    truth = rng.normal(size=(n, len(TARGETS)))
    frames = {}
    for name, noise in (("a", 0.3), ("b", 0.6)):
        frame = pd.DataFrame({"object_id": np.arange(n), "split": split})
        for i, t in enumerate(TARGETS):
            frame[f"{t}_true"] = truth[:, i]
            frame[f"{t}_pred"] = truth[:, i] + rng.normal(0, noise, n)
            frame[f"{t}_sigma"] = noise
        frames[name] = frame
    return frames


def test_stacking_is_fitted_on_the_validation_split_only():
    rng = np.random.default_rng(0)
    members = _members(rng)
    pred, fit = fit_stacking(members, TARGETS, {"alphas": [0.1, 1.0], "cv_folds": 5})
    assert fit["fit_split"] == "val" and fit["n_fit"] == 150
    # the better member gets the larger weight, the pair beats it
    w = fit["own_target_weights"]["z"]
    assert w["a"] > w["b"] > 0
    test = pred[pred["split"] == "test"]
    rmse = np.sqrt(np.mean((test["z_pred"] - test["z_true"]) ** 2))
    assert rmse < np.sqrt(np.mean((members["a"]["z_pred"] - members["a"]["z_true"])[150:] ** 2))
    # test truths never reach the combiner: scrambling them changes no prediction
    scrambled = {k: v.copy() for k, v in members.items()}
    for frame in scrambled.values():
        frame.loc[frame["split"] == "test", [f"{t}_true" for t in TARGETS]] = 99.0
    again, _ = fit_stacking(scrambled, TARGETS, {"alphas": [0.1, 1.0], "cv_folds": 5})
    np.testing.assert_allclose(again["z_pred"], pred["z_pred"])
    assert (test["z_sigma"] > 0).all()


def test_tabular_cv_records_the_chosen_values():
    rng = np.random.default_rng(1)
    n = 200
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2"])
    for i, t in enumerate(TARGETS):
        frame[t] = x[:, i % 3] * (i + 1) + rng.normal(0, 0.1, n)
    frame.insert(0, "object_id", np.arange(n))
    frame.insert(1, "split", np.where(np.arange(n) < 120, "train",
                                      np.where(np.arange(n) < 140, "val", "test")))
    pred, fit = tune_tabular(frame, TARGETS, {"kind": "linear",
                                              "grid": {"alpha": [0.01, 1e4]}}, cv_folds=3)
    assert fit["chosen"] == {"alpha": 0.01} and len(fit["cv"]) == 2
    assert fit["features"] == ["f0", "f1", "f2"] and fit["n_train"] == 120
    assert set(pred["split"]) == {"val", "test"} and len(pred) == 80
    assert np.corrcoef(pred["z_pred"], pred["z_true"])[0, 1] > 0.99


# ---------------------------------------------------------------- active learning


def test_active_learning_grows_the_pool_without_repeats():
    uncertainty = np.linspace(0, 1, 200)  # the last objects are the most uncertain
    seen = []

    def fit_and_score(labelled, uncertain, repeat):
        seen.append((len(labelled), uncertain))
        return {"z": len(labelled) / 200}, uncertainty if uncertain else None

    curve, acquired = run_active_learning(200, fit_and_score, initial=20, step=15, rounds=4,
                                          seed=3)
    # the shared initial pool is trained once; the last round needs no uncertainties
    assert seen == [(20, True), (35, True), (50, True), (65, True), (80, False),
                    (35, True), (50, True), (65, True), (80, False)]
    assert len(curve[curve["n_labels"] == 20]) == 2  # but scored for both strategies
    for _, group in acquired.groupby("strategy"):
        assert group["index"].is_unique and len(group) == 80
        assert (group.groupby("round").size().to_numpy() == [20, 15, 15, 15, 15]).all()
    first = acquired[acquired["round"] == 0]
    assert (first.groupby("strategy")["index"].apply(sorted).apply(tuple).nunique()) == 1
    greedy = acquired[(acquired["strategy"] == "uncertainty") & (acquired["round"] == 1)]
    initial = set(first[first["strategy"] == "uncertainty"]["index"])
    expected = [i for i in range(199, -1, -1) if i not in initial][:15]
    assert sorted(greedy["index"]) == sorted(expected)
    assert list(curve["n_labels"].unique()) == [20, 35, 50, 65, 80]
    with pytest.raises(ValueError, match="exceeds the 200 training objects"):
        run_active_learning(200, fit_and_score, initial=100, step=50, rounds=3)


def test_active_learning_repeats_from_their_own_pools():
    calls = []

    def fit_and_score(labelled, uncertain, repeat):
        calls.append(repeat)
        return {"z": 0.1 * repeat + len(labelled) / 200}, np.ones(200) if uncertain else None

    curve, acquired = run_active_learning(200, fit_and_score, initial=20, step=10, rounds=2,
                                          seed=5, repeats=3)
    # per repeat: round 0 once, then two rounds per strategy
    assert calls == [0] * 5 + [1] * 5 + [2] * 5
    assert len(curve) == 3 * 2 * 3 and sorted(curve["repeat"].unique()) == [0, 1, 2]
    pools = acquired[acquired["round"] == 0].groupby("repeat")["index"].apply(frozenset)
    assert pools.nunique() == 3  # each repeat starts from its own random pool
    for _, group in acquired.groupby(["repeat", "strategy"]):
        assert group["index"].is_unique and len(group) == 40
    table = labels_to_reach(curve, target_r2="z").set_index("strategy")
    # the repeats' mean (0.1 x repeat averages to 0.1) and their spread
    assert table.loc["random", "final_R2"] == pytest.approx(0.1 + 40 / 200)
    assert table.loc["random", "final_R2_std"] == pytest.approx(0.1)
    assert table.loc["random", "repeats"] == 3
    assert table.loc["uncertainty", "labels_to_reach_reference"] == 40


def test_acquire_and_labels_to_reach():
    rng = np.random.default_rng(0)
    pool = np.array([3, 5, 7, 9])
    assert list(acquire("uncertainty", pool, np.arange(10.0), 2, rng)) == [9, 7]
    assert set(acquire("random", pool, np.zeros(10), 4, rng)) == set(pool)
    curve = pd.DataFrame({"strategy": ["random"] * 3 + ["uncertainty"] * 3,
                          "n_labels": [10, 20, 30] * 2, "target": "z",
                          "R2": [0.2, 0.5, 0.6, 0.3, 0.65, 0.7]})
    table = labels_to_reach(curve, target_r2="z").set_index("strategy")
    assert table.loc["uncertainty", "labels_to_reach_reference"] == 20
    assert table.loc["random", "labels_to_reach_reference"] == 30
