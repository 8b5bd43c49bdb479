"""Photometric features, 1D sequences and the tabular baselines, on hand-built rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.features import (
    align_features,
    feature_inputs,
    feature_reject_reason,
    feature_table,
    pad_sequences,
    sequence_mask,
    to_sequence,
)
from galstar.features.baselines import fit_predict_tabular

ALL = ["mag_g", "mag_r", "mag_z", "g_r", "r_z", "g_z", "SHAPE_R", "ellipticity", "SERSIC", "z"]


def dr9_rows() -> pd.DataFrame:
    """Two galaxies; the second has a non-positive g flux."""
    return pd.DataFrame({
        "FLUX_G": [10.0, -1.0], "FLUX_R": [20.0, 5.0], "FLUX_Z": [40.0, 8.0],
        "MW_TRANSMISSION_G": [0.8, 0.9], "MW_TRANSMISSION_R": [0.9, 0.9],
        "MW_TRANSMISSION_Z": [1.0, 0.95], "SHAPE_R": [1.5, 0.8], "SHAPE_E1": [0.3, 0.0],
        "SHAPE_E2": [0.4, -0.1], "SERSIC": [1.0, 4.0], "TYPE": ["EXP", "DEV"],
        "z": [0.1, 0.05],
    })


def test_feature_values_by_hand():
    f = feature_table(dr9_rows(), ALL)
    assert list(f.columns) == ALL
    # extinction-corrected: 22.5 - 2.5 log10(10 / 0.8) = 22.5 - 2.5 * 1.09691
    assert f.loc[0, "mag_g"] == pytest.approx(19.757725, abs=1e-6)
    assert f.loc[0, "mag_r"] == pytest.approx(22.5 - 2.5 * np.log10(20.0 / 0.9))
    assert f.loc[0, "mag_z"] == pytest.approx(22.5 - 2.5 * np.log10(40.0))
    assert f.loc[0, "g_r"] == pytest.approx(-2.5 * np.log10(12.5 / (20.0 / 0.9)))
    assert f.loc[0, "g_z"] == pytest.approx(f.loc[0, "mag_g"] - f.loc[0, "mag_z"])
    assert f.loc[0, "r_z"] == pytest.approx(f.loc[0, "mag_r"] - f.loc[0, "mag_z"])
    assert f.loc[0, "ellipticity"] == pytest.approx(0.5)  # hypot(0.3, 0.4)
    assert f.loc[1, "ellipticity"] == pytest.approx(0.1)
    assert f.loc[0, "SHAPE_R"] == 1.5 and f.loc[1, "SERSIC"] == 4.0 and f.loc[1, "z"] == 0.05


def test_non_finite_feature_is_rejected_not_dropped():
    f = feature_table(dr9_rows(), ALL)
    assert len(f) == 2
    assert np.isnan(f.loc[1, "mag_g"]) and np.isnan(f.loc[1, "g_r"])
    # the first offending feature in list order names the reason
    assert list(feature_reject_reason(f)) == ["", "nonfinite_mag_g"]
    assert list(feature_reject_reason(f[["g_r", "mag_g"]])) == ["", "nonfinite_g_r"]


def test_missing_column_names_it_and_the_file():
    rows = dr9_rows().drop(columns="MW_TRANSMISSION_Z")
    with pytest.raises(ValueError, match=r"'mag_z'.*MW_TRANSMISSION_Z.*shard-003\.parquet"):
        feature_table(rows, ["mag_g", "mag_z"], source="shard-003.parquet")
    # the features that do not need it still work
    assert list(feature_table(rows, ["mag_g", "SHAPE_R"]).columns) == ["mag_g", "SHAPE_R"]


def test_unknown_or_repeated_feature_is_an_error():
    with pytest.raises(ValueError, match="unknown feature.*'mag_u'"):
        feature_table(dr9_rows(), ["mag_g", "mag_u"])
    with pytest.raises(ValueError, match="more than once"):
        feature_table(dr9_rows(), ["z", "z"])
    assert feature_inputs(["g_r", "mag_g"]) == ["FLUX_G", "MW_TRANSMISSION_G", "FLUX_R",
                                                "MW_TRANSMISSION_R"]


def test_sequences_and_padding():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    seq = to_sequence(x, length=5, mask_value=-10.0)
    assert seq.shape == (2, 5, 1) and seq.dtype == np.float32
    np.testing.assert_array_equal(seq[1, :, 0], [4, 5, 6, -10, -10])
    np.testing.assert_array_equal(sequence_mask(seq, -10.0)[0], [1, 1, 1, 0, 0])
    with pytest.raises(ValueError, match="shorter"):
        to_sequence(x, length=2)
    ragged = pad_sequences([[1.0], [2.0, 3.0, 4.0]], mask_value=-1.0)
    np.testing.assert_array_equal(ragged[:, :, 0], [[1, -1, -1], [2, 3, 4]])
    with pytest.raises(ValueError, match="more than the length"):
        pad_sequences([[1.0, 2.0]], length=1)
    table = pd.DataFrame({"z": [0.1], "mag_g": [18.0]})
    aligned = align_features(table, ["mag_g", "mag_r", "z"], mask_value=-5.0)
    np.testing.assert_allclose(aligned[0, :, 0], [18.0, -5.0, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="SERSIC"):
        align_features(table.assign(SERSIC=1.0), ["mag_g", "z"])


def test_tabular_baselines():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (400, 3))
    y = 2.0 * x[:, 0] - x[:, 1]
    x_eval = np.array([[0.5, 0.0, 0.0], [-0.5, 0.5, np.nan]])
    mean = fit_predict_tabular("mean", x, y, x_eval, {}, seed=0)
    np.testing.assert_allclose(mean, [y.mean(), y.mean()])
    hgb = fit_predict_tabular("hist_gradient_boosting", x, y, x_eval, {"max_iter": 200}, 0)
    assert hgb.shape == (2,) and hgb[0] == pytest.approx(1.0, abs=0.2)
    x_nan = x.copy()
    x_nan[::7, 2] = np.nan  # RF imputes the training median
    rf = fit_predict_tabular("random_forest", x_nan, np.column_stack([y, -y]), x_eval,
                             {"n_estimators": 30}, seed=1)
    assert rf.shape == (2, 2) and np.all(np.isfinite(rf))
    assert rf[0, 0] == pytest.approx(1.0, abs=0.3) and rf[0, 1] == pytest.approx(-rf[0, 0])
    with pytest.raises(ValueError, match="unknown tabular baseline 'xgboost'"):
        fit_predict_tabular("xgboost", x, y, x_eval, {}, 0)
    with pytest.raises(ValueError, match="bad settings"):
        fit_predict_tabular("hist_gradient_boosting", x, y, x_eval, {"n_trees": 5}, 0)
