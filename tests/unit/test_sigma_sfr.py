"""The sigma_sfr method: target by hand, rejects, sample, diagnostics, table, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.methods import sigma_sfr as ss

FEATURES = ["mag_g", "mag_r", "mag_z", "g_r", "SHAPE_R", "ellipticity", "SERSIC", "z"]


def galaxies(**over) -> pd.DataFrame:
    base = dict(object_id=[1, 2, 3, 4, 5, 6], split=["train"] * 3 + ["test"] * 3,
                shard=[0, 0, 1, 1, 2, 2],
                z=[0.1, 0.0, 0.1, 0.1, 0.1, 0.1],
                SHAPE_R=[2.0, 2.0, 0.0, 2.0, 2.0, 2.0],
                sfr_tot_p50=[0.5, 0.5, 0.5, -9999.0, -99.0, 0.5],
                FLUX_G=[10.0, 10, 10, 10, 10, -1], FLUX_R=[20.0] * 6, FLUX_Z=[40.0] * 6,
                MW_TRANSMISSION_G=[0.8] * 6, MW_TRANSMISSION_R=[0.9] * 6,
                MW_TRANSMISSION_Z=[1.0] * 6, SHAPE_E1=[0.1] * 6, SHAPE_E2=[0.0] * 6,
                SERSIC=[1.0] * 6)
    base.update(over)
    return pd.DataFrame(base)


def test_one_galaxy_by_hand():
    row = galaxies().iloc[:1]
    # Planck18: D_A(z = 0.1) = 393,241.543 kpc (astropy 8.0); 2" = 9.69627e-6 rad, so
    # R_e = 3.812978 kpc; Sigma = 10**0.5 / (2 pi R_e**2) = 3.162278 / 91.3497
    # = 0.0346173 M_sun/yr/kpc^2 -> log10 = -1.460708
    values, reason = ss.log_sigma_sfr(row, "Planck18")
    assert values[0] == pytest.approx(-1.460708377, abs=1e-6)
    assert reason[0] == ""
    # WMAP9: D_A(0.1) = 384,529.414 kpc -> R_e = 3.728502 kpc -> log Sigma = -1.441249
    assert ss.log_sigma_sfr(row, "WMAP9")[0][0] == pytest.approx(-1.441248726, abs=1e-6)


def test_reject_reasons_and_unknown_cosmology():
    values, reason = ss.log_sigma_sfr(galaxies(SHAPE_R=[2.0, 0.0, np.nan, 2.0, 2.0, 2.0]))
    # row 2 has z = 0 and no size: the redshift is named first
    assert list(reason) == ["", "no_redshift", "no_size", "no_sfr", "no_sfr", ""]
    assert np.isnan(values[1:5]).all() and np.isfinite(values[[0, 5]]).all()
    with pytest.raises(ValueError, match=r"sigma_sfr\.cosmology.*'Planck99'"):
        ss.log_sigma_sfr(galaxies(), "Planck99")


def test_build_sample_keeps_every_row_with_a_reason():
    sample = ss.build_sample(galaxies(), FEATURES, "Planck18")
    assert list(sample.columns) == ["object_id", "split", "shard", *FEATURES,
                                    ss.TARGET, "kept", "reject_reason"]
    assert list(sample["reject_reason"]) == ["", "no_redshift", "no_size", "no_sfr",
                                             "no_sfr", "nonfinite_mag_g"]
    assert list(sample["kept"]) == [True, False, False, False, False, False]
    assert sample.loc[0, "ellipticity"] == pytest.approx(0.1)


def test_missing_feature_column_is_named():
    with pytest.raises(ValueError, match=r"'SERSIC'.*\['SERSIC'\].*crossmatch\.parquet"):
        ss.build_sample(galaxies().drop(columns="SERSIC"), FEATURES, "Planck18",
                        source="crossmatch.parquet")
    with pytest.raises(ValueError, match="shard"):
        ss.build_sample(galaxies().drop(columns="shard"), FEATURES)


def test_binned_residuals_counts_and_values_exact():
    true = np.array([0.0, 0.5, 4.0, 5.0, 6.0, 9.0, 9.5, 10.0])
    offset = np.array([-1.0, -3.0, 0.5, 0.2, -0.2, 0.1, 0.1, 0.4])
    stats = ss.binned_residuals(true + offset, true, n_bins=4, low_fraction=0.25)
    # edges 0, 2.5, 5, 7.5, 10, left-closed: 5.0 falls in the third bin, 10 in the last
    assert list(stats["bin"]) == ["0", "1", "2", "3", "low"]
    assert list(stats["N"]) == [2, 1, 2, 3, 2]
    np.testing.assert_allclose(stats["lo"][:4], [0.0, 2.5, 5.0, 7.5])
    np.testing.assert_allclose(stats["MAE"][:4], [2.0, 0.5, 0.2, 0.2])
    np.testing.assert_allclose(stats["bias"][:4], [-2.0, 0.5, 0.0, 0.2])
    np.testing.assert_allclose(stats["sigma"][:3], [1.0, 0.0, 0.2])
    low = stats.iloc[-1]  # ceil(0.25 x 8) = 2 lowest true values: 0.0 and 0.5
    assert low["lo"] == 0.0 and low["hi"] == 0.5 and low["MAE"] == pytest.approx(2.0)
    # pred (-1, -2.5) vs true (0, 0.5): std 0.75 / 0.25
    assert low["spread_ratio"] == pytest.approx(3.0)
    empty = ss.binned_residuals(true, true, n_bins=20)
    assert empty["N"].iloc[:20].sum() == 8 and (empty["N"].iloc[:20] == 0).sum() > 0


def test_spread_ratio_detects_collapse():
    rng = np.random.default_rng(0)
    true = rng.normal(-1.0, 0.5, 1000)
    assert ss.spread_ratio(true, true) == pytest.approx({"overall": 1.0, "low": 1.0})
    half = ss.spread_ratio(0.5 * true, true)
    assert half["overall"] == pytest.approx(0.5) and half["low"] == pytest.approx(0.5)
    assert ss.spread_ratio(np.full(1000, np.median(true)), true)["low"] == pytest.approx(
        0.0, abs=1e-12)


def predictions(pred: np.ndarray, true: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"object_id": np.arange(true.size), "split": "test",
                         f"{ss.TARGET}_true": true, f"{ss.TARGET}_pred": pred,
                         f"{ss.TARGET}_sigma": np.nan})


def test_results_table_rows_and_columns():
    true = np.linspace(-3.0, 0.0, 10)
    frames = {"resnet1d_lds": predictions(true + 0.1, true),
              "mean": predictions(np.full(10, true.mean()), true)}
    frames["mean"].loc[0, "split"] = "train"  # not counted
    table = ss.results_table(frames, low_fraction=0.2)
    assert list(table.columns) == ["experiment", *ss.RESULT_COLUMNS]
    best, mean = table.iloc[0], table.iloc[1]
    assert best["N"] == 10 and best["MAE"] == pytest.approx(0.1)
    assert best["bias"] == pytest.approx(0.1) and best["sigma"] == pytest.approx(0.0, abs=1e-12)
    assert best["low_N"] == 2 and best["spread_ratio_low"] == pytest.approx(1.0)
    assert mean["N"] == 9 and mean["spread_ratio"] == 0.0
    assert mean["R2"] < 0.0 < best["R2"] < 1.0
    with pytest.raises(ValueError, match="log_sigma_sfr_pred"):
        ss.results_table({"x": frames["mean"].drop(columns=f"{ss.TARGET}_pred")})


def test_figures_are_written(tmp_path):
    rng = np.random.default_rng(1)
    true = rng.normal(-1.5, 0.6, 200)
    frames = {"resnet1d": predictions(true + rng.normal(0, 0.2, 200), true),
              "hgb": predictions(0.5 * true - 0.7, true)}
    from galstar.methods import sigma_sfr_figures as figures

    for plot, name in ((figures.plot_residuals_vs_true, "residuals.png"),
                       (figures.plot_pred_vs_true, "pred_vs_true.png")):
        plot(frames, tmp_path / name)
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred_vs_true.png",
                                                          "residuals.png"]  # no temp left
