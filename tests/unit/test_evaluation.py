"""Evaluation: metrics against hand-computed values, MC dropout, calibration, baselines,
tables and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.evaluation.calibration import (
    calibration_table,
    conformal_quantile,
    coverage,
    fit_sigma_scale,
)
from galstar.evaluation.metrics import (
    bin_label,
    grouped_metrics,
    metrics_table,
    regression_metrics,
)
from galstar.evaluation.uncertainty import binned_sigma

TARGETS = ["lgm_fib_p50", "specsfr_fib_p50"]


def test_metrics_match_hand_computed_values():
    truth = np.array([10.0, 10.0, 10.0, 10.0])
    pred = np.array([10.1, 9.6, 10.5, 10.0])  # residuals 0.1, -0.4, 0.5, 0.0
    m = regression_metrics(truth, pred, outlier_dex=0.3)
    assert m["N"] == 4
    assert m["MAE"] == pytest.approx(0.25)
    assert m["bias"] == pytest.approx(0.05)
    assert m["bias_median"] == pytest.approx(0.05)
    assert m["sigma"] == pytest.approx(np.sqrt(0.41 / 4))
    assert m["f_out"] == pytest.approx(0.5)
    assert m["RMSE"] == pytest.approx(np.sqrt(0.105))
    assert np.isnan(m["R2"])  # constant truth: R2 undefined
    m2 = regression_metrics([1.0, 2.0, 3.0], [1.5, 2.0, 2.5])
    assert m2["R2"] == pytest.approx(1 - 0.5 / 2.0)
    assert regression_metrics([], [])["N"] == 0
    with pytest.raises(ValueError, match="shape"):
        regression_metrics([1.0, 2.0], [1.0])


def _predictions(n=400, seed=0, noise=(0.2, 0.4)):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"object_id": np.arange(n), "split": np.where(np.arange(n) % 2,
                                                                         "test", "val"),
                          "z": rng.uniform(0.01, 0.3, n),
                          "TYPE": rng.choice(["REX", "EXP", "DEV", "SER"], n),
                          "radius_arcsec": rng.uniform(1, 6, n)})
    for t, s, lo, hi in zip(TARGETS, noise, (8.5, -12.5), (11.5, -9.0), strict=True):
        frame[t + "_true"] = rng.uniform(lo, hi, n)
        frame[t + "_pred"] = frame[t + "_true"] + rng.normal(0, s, n)
        # MC sigma underestimates the true scatter by a factor 3
        frame[t + "_mc_mean"] = frame[t + "_pred"]
        frame[t + "_sigma"] = s / 3
    return frame


def test_metrics_table_and_groups():
    pred = _predictions()
    table = metrics_table(pred, TARGETS)
    assert list(table["target"]) == TARGETS and (table["N"] == 200).all()
    assert table.loc[0, "sigma"] == pytest.approx(0.2, rel=0.15)
    test = pred[pred["split"] == "test"]
    assert table.loc[1, "label_std"] == pytest.approx(np.std(test[TARGETS[1] + "_true"]))
    assert table.loc[1, "sigma_over_std"] == pytest.approx(
        table.loc[1, "sigma"] / table.loc[1, "label_std"])
    groups = grouped_metrics(pred, TARGETS, "z", bins=[0, 0.1, 0.2, 0.35])
    assert len(groups) == 6 and groups.groupby("target")["N"].sum().eq(200).all()
    sub = test[(test["z"] > 0.1) & (test["z"] <= 0.2)]
    row = groups[(groups["target"] == TARGETS[0]) & (groups["group"] == "0.1-0.2")]
    assert (row["lo"].item(), row["hi"].item()) == (0.1, 0.2)
    assert row["MAE"].item() == pytest.approx(
        np.mean(np.abs(sub[TARGETS[0] + "_pred"] - sub[TARGETS[0] + "_true"])))
    # the first bin includes its lower edge and is named by its edges, not "(-0.001, 0.1]"
    first = groups[groups["target"] == TARGETS[0]].iloc[0]
    assert first["group"] == "0-0.1" and first["N"] == int((test["z"] <= 0.1).sum())
    assert bin_label(-3.0, -2.5) == "-3 to -2.5"
    types = grouped_metrics(pred, TARGETS, "TYPE")
    assert sorted(set(types["group"])) == ["DEV", "EXP", "REX", "SER"]


def test_predictions_outside_the_training_range_are_clipped_and_counted():
    from galstar.training.scaler import MinMaxScaler

    scaler = MinMaxScaler(("a", "b"), (8.0, -13.0), (12.0, -9.0))
    scaled = np.array([[-0.5, 0.5], [1.25, 1.0]])
    np.testing.assert_allclose(scaler.inverse_transform(scaled), [[6.0, -11.0], [13.0, -9.0]])
    np.testing.assert_allclose(scaler.inverse_transform(scaled, clip=True),
                               [[8.0, -11.0], [12.0, -9.0]])

    pred = _predictions()
    pred[TARGETS[0] + "_clipped"] = False
    test = np.flatnonzero(pred["split"] == "test")
    pred.loc[test[:3], TARGETS[0] + "_clipped"] = True
    pred.loc[np.flatnonzero(pred["split"] == "val")[:5], TARGETS[0] + "_clipped"] = True
    table = metrics_table(pred, TARGETS)
    assert table.loc[0, "n_clipped"] == 3  # test split only
    assert np.isnan(table.loc[1, "n_clipped"])  # no flag column for that target


def test_binned_sigma_follows_the_paper_bins():
    truth = np.array([8.1, 8.4, 8.5, 9.2, 9.9])
    sigma = np.array([0.1, 0.3, 0.5, 0.2, 0.4])
    b = binned_sigma(truth, sigma, width=0.5)
    assert list(b["bin_lo"]) == [8.0, 8.5, 9.0, 9.5]
    assert list(b["N"]) == [3, 0, 1, 1]  # (8.0, 8.5] holds 8.5
    assert b.loc[0, "mean_sigma"] == pytest.approx(0.3)
    assert b.loc[0, "std_sigma"] == pytest.approx(np.std([0.1, 0.3, 0.5]))


def test_calibration_scale_fixes_underestimated_sigmas():
    pred = _predictions(n=4000, seed=2)
    cal = calibration_table(pred, TARGETS)
    for _, row in cal.iterrows():
        assert row["scale"] == pytest.approx(3.0, rel=0.1)
        assert row["has_sigma"]
        if row["level"] == 0.68:
            assert row["coverage_raw"] < 0.35  # 1/3 of the true scatter covers ~26 %
        assert row["coverage_scaled"] == pytest.approx(row["level"], abs=0.04)
        assert row["coverage_conformal"] == pytest.approx(row["level"], abs=0.04)
    assert coverage([0.0, 0.0], [0.5, 2.0], [1.0, 1.0]) == 0.5
    assert np.isnan(fit_sigma_scale([1.0], [1.0], [0.0]))


def test_conformal_intervals_are_adaptive_and_work_without_sigma():
    rng = np.random.default_rng(5)
    n = 6000
    sigma = rng.uniform(0.05, 1.0, n)  # heteroscedastic: the per-object scale matters
    frame = pd.DataFrame({"split": np.where(np.arange(n) % 2, "test", "val"),
                          "y_true": 0.0, "y_sigma": 0.2 * sigma})
    frame["y_pred"] = rng.normal(0, sigma)
    cal = calibration_table(frame, ["y"]).set_index("level")
    for level in (0.68, 0.95):
        assert cal.loc[level, "coverage_conformal"] == pytest.approx(level, abs=0.02)
        # the normalised quantile is the Gaussian one times the factor 5 sigma is off by
        assert cal.loc[level, "conformal_q"] == pytest.approx(
            5 * {0.68: 0.994, 0.95: 1.960}[level], rel=0.06)
    test = frame[frame["split"] == "test"]
    wide = test["y_sigma"] > 0.1
    half = cal.loc[0.68, "conformal_q"] * test["y_sigma"]
    assert coverage(test["y_true"][wide], test["y_pred"][wide], half[wide]) == pytest.approx(
        0.68, abs=0.04)  # holds for the uncertain objects too, not only on average
    flat = frame.drop(columns="y_sigma")  # a baseline: absolute-residual intervals
    cal = calibration_table(flat, ["y"]).set_index("level")
    assert not cal.loc[0.68, "has_sigma"] and np.isnan(cal.loc[0.68, "coverage_raw"])
    assert cal.loc[0.95, "coverage_conformal"] == pytest.approx(0.95, abs=0.02)
    assert conformal_quantile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert conformal_quantile([1.0, 2.0, 3.0], 0.9) == float("inf")  # too few to say


@pytest.fixture(scope="module")
def tiny_model():
    keras = pytest.importorskip("keras")
    from galstar.models.galeffnet import build_galeffnet
    from galstar.training.callbacks import recalibrate_batchnorm

    keras.utils.set_random_seed(0)
    model = build_galeffnet("efficientnet_b0", input_shape=(32, 32, 3), dense_units=32,
                            dropout=0.5)
    # Untrained moving statistics shrink the activations to ~1e-9: calibrate them on
    # images like the tests' so that outputs are O(1) and comparisons mean something.
    rng = np.random.default_rng(9)
    recalibrate_batchnorm(model, [rng.random((16, 32, 32, 3), np.float32) for _ in range(2)])
    return model


def test_mc_dropout_spread_is_nonzero_with_dropout_and_zero_without(tiny_model):
    from galstar.evaluation.uncertainty import mc_dropout_predict

    x = np.random.default_rng(3).random((6, 32, 32, 3), np.float32)
    point, mean, std = mc_dropout_predict(tiny_model, [{"image": x[:4]}, {"image": x[4:]}],
                                          passes=10)
    assert point.shape == mean.shape == std.shape == (6, 2)
    assert np.all(std > 0)
    reference = tiny_model.predict_on_batch(x)
    # batches of 4 + 2 vs one of 6: float32 rounding scales with the largest activations
    np.testing.assert_allclose(point, reference, rtol=1e-4,
                               atol=5e-5 * float(np.abs(reference).max()))
    _, mean_off, std_off = mc_dropout_predict(tiny_model, [{"image": x[:4]}, {"image": x[4:]}],
                                              passes=5, dropout=False)
    assert np.all(std_off == 0)
    np.testing.assert_allclose(mean_off, point, rtol=1e-5, atol=1e-6)


def test_d4_test_time_augmentation_is_the_median_over_the_eight_views(tiny_model):
    from galstar.evaluation.uncertainty import mc_dropout_predict
    from galstar.training.data import d4_transform

    x = np.random.default_rng(4).random((5, 32, 32, 3), np.float32)
    views = np.stack([tiny_model.predict_on_batch(np.ascontiguousarray(d4_transform(x, op)))
                      for op in range(8)])
    assert np.ptp(views, axis=0).min() > 1e-3  # the untrained model is not D4-invariant
    point, mean, std = mc_dropout_predict(tiny_model, [{"image": x}], passes=4, tta="d4")
    np.testing.assert_allclose(point, np.median(views, axis=0), rtol=1e-4, atol=1e-5)
    assert np.all(std > 0)
    _, mean_off, std_off = mc_dropout_predict(tiny_model, [{"image": x}], passes=3,
                                              dropout=False, tta="d4")
    assert np.all(std_off == 0)
    np.testing.assert_allclose(mean_off, point, rtol=1e-5, atol=1e-6)
    # an image that is its own rotations and flips gets its single-view prediction
    sym = np.mean([d4_transform(x, op) for op in range(8)], axis=0)
    sym_tta, _, _ = mc_dropout_predict(tiny_model, [{"image": sym}], passes=2, tta="d4")
    np.testing.assert_allclose(sym_tta, tiny_model.predict_on_batch(sym), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="evaluation.tta"):
        mc_dropout_predict(tiny_model, [{"image": x}], tta="d8")


def test_mc_dropout_works_for_any_model_with_dropout():
    keras = pytest.importorskip("keras")
    from galstar.evaluation.uncertainty import mc_dropout_parts, mc_dropout_predict
    from galstar.models import get_builder

    keras.utils.set_random_seed(1)
    model = get_builder("resnet1d")(8, dropout=0.3, widths=(8, 16), block_convs=(2, 1),
                                    first_width=8, dense_units=(16, 8))
    features, head = mc_dropout_parts(model)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in features.layers)
    x = {"features": np.random.default_rng(2).normal(size=(5, 8, 1)).astype("float32")}
    point, _, std = mc_dropout_predict(model, [x], passes=6)
    np.testing.assert_allclose(point, model.predict_on_batch(x), rtol=1e-4, atol=1e-5)
    assert np.all(std > 0)
    plain = get_builder("resnet1d")(8, widths=(8,), block_convs=(1,), first_width=8)
    with pytest.raises(ValueError, match="no dropout"):
        mc_dropout_parts(plain)


def test_baselines_use_the_training_split(tmp_path):
    from synthetic import write_synthetic_shards

    from galstar.evaluation.baselines import tabular_baseline
    from galstar.methods.galeffnet import baseline_table

    out = write_synthetic_shards(tmp_path, n_objects=400, n_shards=2, resolution=8, seed=1)
    # the synthetic shard tables carry the catalogue columns themselves
    cat = baseline_table({"tables": out["tables"], "catalog": out["tables"]}, TARGETS)
    assert cat["kept"].all()
    mean = tabular_baseline(cat, TARGETS, {"kind": "mean"})
    train_mean = cat.loc[cat["split"] == "train", TARGETS[0]].mean()
    np.testing.assert_allclose(mean[TARGETS[0] + "_pred"], train_mean)
    assert set(mean["split"]) == {"val", "test"}
    assert (mean[TARGETS[0] + "_sigma"] == 0).all()
    rf = tabular_baseline(cat, TARGETS, {"kind": "random_forest", "n_estimators": 30,
                                         "features": ["mag_g", "mag_r", "mag_z", "g_r",
                                                      "r_z", "SHAPE_R", "z"]}, seed=0)
    m_rf, m_mean = metrics_table(rf, TARGETS), metrics_table(mean, TARGETS)
    # the synthetic catalogue photometry encodes both labels: the forest must win clearly
    assert (m_rf["MAE"] < 0.5 * m_mean["MAE"]).all()
    with pytest.raises(ValueError, match="MW_TRANSMISSION_G"):
        tabular_baseline(cat.drop(columns="MW_TRANSMISSION_G"), TARGETS,
                         {"kind": "random_forest", "features": ["mag_g"]}, source="x.parquet")


def test_tables_gain_and_figures(tmp_path):
    from galstar.evaluation import plots
    from galstar.methods.galeffnet_tables import image_gain, like_for_like, table1, table2

    pred = _predictions()
    mean = pred.copy()
    for t in TARGETS:
        mean[t + "_pred"] = pred[t + "_true"].mean()
    exp = {"backbone": "efficientnet_b0", "weights": "none", "bands": "grz",
           "resolution": 64, "ablation": None}
    abl = {**exp, "bands": "gr", "ablation": {"base": "net", "kind": "bands", "value": "gr"}}
    t1 = table1({"net": metrics_table(pred, TARGETS), "net-bands-gr": metrics_table(pred, TARGETS),
                 "baseline-mean": metrics_table(mean, TARGETS)},
                {"net": exp, "net-bands-gr": abl, "baseline-mean": {"kind": "mean"}})
    assert list(t1["kind"]) == ["network", "network", "baseline"]
    assert t1.loc[1, "ablation_of"] == "net"
    assert like_for_like(t1) == [("net", "baseline-mean"), ("net-bands-gr", "baseline-mean")]
    with_z = table1({"net": metrics_table(pred, TARGETS), "net-z": metrics_table(pred, TARGETS),
                     "baseline-rf": metrics_table(mean, TARGETS),
                     "baseline-rf_z": metrics_table(mean, TARGETS)},
                    {"net": exp, "net-z": {**exp, "with_redshift": True},
                     "baseline-rf": {"kind": "random_forest", "features": ["mag_r"]},
                     "baseline-rf_z": {"kind": "random_forest", "features": ["mag_r", "z"]}})
    assert like_for_like(with_z) == [("net", "baseline-rf"), ("net-z", "baseline-rf_z")]
    gain = image_gain(t1, "net", ["baseline-mean"], TARGETS)
    expected = 1 - t1.loc[0, "logM_MAE"] / t1.loc[2, "logM_MAE"]
    assert gain.loc[0, "MAE_gain"] == pytest.approx(expected) and expected > 0.5
    t2 = table2(pred, TARGETS, size_bins=[0, 3, 6], redshift_bins=[0, 0.15, 0.35])
    assert set(t2["by"]) == {"radius_arcsec", "z", "TYPE"}
    unc = pd.concat([binned_sigma(pred[t + "_true"], pred[t + "_sigma"]).assign(target=t)
                     for t in TARGETS])
    names = ["pred_vs_ref", "distributions", "uncertainty_fig", "by_size", "by_redshift",
             "by_type"]
    paths = {n: tmp_path / f"{n}.png" for n in names}
    plots.experiment_figures(pred, t2, unc, **paths)
    plots.ablation_figure(t1, "net", "bands", ["g", "gr", "grz"], tmp_path / "abl.png",
                          TARGETS)
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    plots.plot_learning_curve(history, tmp_path / "lc.png")
    for p in [*paths.values(), tmp_path / "abl.png", tmp_path / "lc.png"]:
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000


def test_leave_one_out_calibration_covers_a_test_set_the_validation_split_misses():
    # Validated on synthetic objects, tested on observed ones twice as scattered: the
    # validation-fitted intervals under-cover; leave-one-out on the test set does not.
    rng = np.random.default_rng(11)
    n_val, n_test = 2000, 400
    sigma = rng.uniform(0.5, 1.5, n_val + n_test)
    shift = np.r_[np.ones(n_val), 2.0 * np.ones(n_test)]
    frame = pd.DataFrame({"split": ["val"] * n_val + ["test"] * n_test, "y_true": 0.0,
                          "y_sigma": sigma})
    frame["y_pred"] = rng.normal(0, sigma * shift)
    val = calibration_table(frame, ["y"]).set_index("level")
    loo = calibration_table(frame, ["y"], fit_split="loo").set_index("level")
    assert val.loc[0.68, "coverage_conformal"] < 0.45  # ~erf(0.994 / 2 / sqrt 2) = 0.38
    for level in (0.68, 0.95):
        assert loo.loc[level, "fit_split"] == "loo"
        assert loo.loc[level, "coverage_conformal"] == pytest.approx(level, abs=0.04)
        assert loo.loc[level, "coverage_scaled"] == pytest.approx(level, abs=0.05)
        # the quantile for new observed objects: the Gaussian one, doubled
        assert loo.loc[level, "conformal_q"] == pytest.approx(
            2 * {0.68: 0.994, 0.95: 1.960}[level], rel=0.12)
    with pytest.raises(ValueError, match="'loo' and 'test'"):
        calibration_table(frame[frame["split"] == "val"], ["y"], fit_split="loo")
