"""Integration: predictions for a user's own targets (issue 15), end to end on the mock.

One Snakemake run trains a tiny GalEffNet and a tiny Sigma_SFR network on a 300-galaxy
mock (the whole chain: mock, cross-match, cutouts, preprocessing) and a tiny StarNet on
a 30-star stellar mock, and packages the models. Then: 50 galaxy positions (test and
training objects, positions outside the footprint or between sources, duplicates, a
NaN and a string coordinate; predicted by GalEffNet and by Sigma_SFR) and
a list of spectrum files (one per star, a NIR file, a missing, a duplicate, an unreadable
and an empty entry) are predicted through ``snakemake predict_targets``; the model
directory copied elsewhere predicts the same numbers through ``galstar predict`` in a
working directory without results; a changed preprocessing value fails naming the key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GALSTAR = str(Path(sys.executable).with_name("galstar"))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
G_MODEL = "results/galeffnet/models/tiny"
S_MODEL = "results/stellar/models/starnet-vis-a"
F_MODEL = "results/sigma_sfr/models/resnet"
NODES = [[t, g, m] for t in (2800.0, 3200.0, 3600.0, 4000.0) for g in (4.5, 5.0)
         for m in (-0.5, 0.0)][:12]


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=2, methods=["galeffnet", "sigma_sfr", "stellar"])
    config["mock"].update(n_galaxies=300, n_field=300, n_stars=30)
    g = config["galeffnet"]
    g["experiments"] = {"tiny": {
        "task": "mass_ssfr", "backbone": "efficientnet_b0", "weights": "none", "bands": "grz",
        "resolution": 32, "epochs": 3, "batch_size": 16, "learning_rate": 1e-3,
        "dense_units": 32, "threads": 2, "mem_mb": 2000, "runtime": 10}}
    g["ablations"] = {"base": "tiny", "bands": [], "resolution": []}
    g["evaluation"].update(reference="tiny", tta="none")
    g["baselines"] = {}
    g["training"]["precise_bn"] = 0
    f = config["sigma_sfr"]
    f["training"].update(epochs=4, batch_size=32, first_width=8, widths=[8, 8, 16, 16],
                         dense_units=[16, 8], threads=2, mem_mb=2000, runtime=10)
    f["experiments"] = {"resnet": {}}
    f["baselines"] = {}
    st = config["stellar"]
    st["mock"] = {"n_stars": 30, "options": {
        "vis_orders": [30, 31], "nir_orders": [12], "grid_subset": NODES,
        "wrong_shape_fraction": 0.1, "label_sentinel_fraction": 0.1,
        "outside_grid_fraction": 0.0}}
    for arm in ("vis", "nir"):
        st["arms"][arm]["grid"]["n_pixels"] = 256
    st["grid_augment"] = {"copies": 2, "noiseless": True, "snr": [50, 150], "rv_sigma_kms": 10}
    st["training"].update(epochs=2, batch_size=8, filters=[2, 4], dense_units=[8, 4],
                          threads=2, mem_mb=2000, runtime=10)
    st["experiments"] = {"starnet-vis-a": {"arm": "vis", "regime": "synthetic"}}
    config["evaluation"]["mc_passes"] = 3
    config["predict"] = {"shard_rows": 20}  # 50 targets: two shards
    return config


def _snakemake(repo: Path, workdir: Path, *args: str, check: bool = True
               ) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile",
                           str(workdir / "config.yaml"), "--directory", str(workdir),
                           "--cores", "2", *args],
                          capture_output=True, text=True, env=ENV, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _galaxy_targets(workdir: Path) -> pd.DataFrame:
    """50 rows: 35 test and 8 training galaxies at their DR9 positions, 2 outside the
    footprint, 1 in a sweep box but far from every source, 2 repeats, NaN, a string."""
    catalog = pd.concat([pd.read_parquet(p) for p in
                         sorted((workdir / "results/galaxies/catalog/shards").glob("*.parquet"))])
    evaluated = pd.read_parquet(workdir / "results/galeffnet/predictions/tiny.parquet")
    test = catalog[catalog["object_id"].isin(evaluated.loc[evaluated["split"] == "test",
                                                           "object_id"])].head(35)
    kept = pd.concat([pd.read_parquet(p) for p in
                      sorted((workdir / "results/galaxies/preprocess").glob("*.parquet"))])
    trained = kept.loc[kept["kept"] & (kept["split"] == "train"), "object_id"]
    train = catalog[catalog["object_id"].isin(trained)].head(8)
    rows = [(f"test{i}", f"{r.RA:.9f}", f"{r.DEC:.9f}", f"{r.z:.7f}")
            for i, r in enumerate(test.itertuples())]
    rows += [(f"train{i}", f"{r.RA:.9f}", f"{r.DEC:.9f}", f"{r.z:.7f}")
             for i, r in enumerate(train.itertuples())]
    rows += [("south", "10.0", "-60.0", "0.1"), ("north", "300.0", "75.0", "0.1"),
             ("empty-sky", f"{catalog['RA'].max() + 2.0:.4f}", f"{catalog['DEC'].mean():.4f}",
              "0.1"),
             ("again0", *rows[0][1:]), ("again1", *rows[1][1:]),
             ("nan", "nan", *rows[2][2:]), ("text", "not-a-number", *rows[2][2:])]
    assert len(rows) == 50
    return pd.DataFrame(rows, columns=["ID", "RAJ2000", "DEJ2000", "Redshift"])


def _spectrum_targets(workdir: Path) -> pd.DataFrame:
    files = pd.read_parquet(workdir / "resources/mock/stellar/spectra_files.parquet")
    vis = files.loc[files["arm"] == "vis", "path"].tolist()
    broken = workdir / "mine" / "car-20200101T00h00m00s-sci-gtoc-vis_A.fits"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text("not a FITS file\n")
    rows = [(f"star{i}", p) for i, p in enumerate(vis)]
    rows += [("nir", files.loc[files["arm"] == "nir", "path"].iloc[0]),
             ("missing", "nowhere/car-20200101T00h00m00s-sci-gtoc-vis_A.fits"),
             ("again", vis[3]), ("broken", "mine/" + broken.name), ("blank", "")]
    return pd.DataFrame(rows, columns=["Name", "Spectrum"])


@pytest.fixture(scope="module")
def trained(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("predict_targets")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo), sort_keys=False))
    _snakemake(repo, workdir, f"{G_MODEL}/model.json", f"{S_MODEL}/model.json",
               f"{F_MODEL}/model.json", "results/sigma_sfr/predictions/resnet.parquet",
               "results/galeffnet/metrics/tiny/calibration.csv",
               "results/stellar/predictions/starnet-vis-a.parquet")
    return workdir


@pytest.fixture(scope="module")
def galaxies(repo, trained):
    _galaxy_targets(trained).to_csv(trained / "galaxies.csv", index=False)
    proc = _snakemake(repo, trained, "predict_targets", "--config", "targets=galaxies.csv",
                      f"model={G_MODEL}")
    run = trained / "results/predict/galaxies__galeffnet-tiny"
    return pd.read_parquet(run / "predictions.parquet"), run, proc.stdout + proc.stderr


def test_one_row_per_target_in_order_with_reasons(trained, galaxies):
    out, run, _ = galaxies
    targets = pd.read_csv(trained / "galaxies.csv", dtype=str, keep_default_na=False)
    assert list(out["input_id"]) == list(targets["ID"])
    assert list(out["input_row"]) == list(range(50))
    reason = out.set_index("input_id")["reject_reason"]
    assert reason["south"].startswith("outside_footprint")
    assert reason["north"].startswith("outside_footprint")
    assert reason["empty-sky"].startswith("no_dr9_source")
    assert reason["nan"].startswith("bad_coordinates")
    assert reason["text"] == "bad_coordinates: RAJ2000 'not-a-number' is not a number"
    # every unpredicted row says why; every predicted row has a finite prediction
    assert (out.loc[~out["predicted"], "reject_reason"] != "").all()
    assert np.isfinite(out.loc[out["predicted"], "lgm_fib_p50_pred"]).all()
    assert out["predicted"].sum() >= 30
    # repeats: predicted once, reported on each row
    for again, first in (("again0", 0), ("again1", 1)):
        row = out[out["input_id"] == again].iloc[0]
        assert row["duplicate_of"] == first
        assert row["lgm_fib_p50_pred"] == out.loc[first, "lgm_fib_p50_pred"]
    # sharded like the training sample: 48 rows with coordinates, shard_rows 20 -> 3 shards
    assert len(list((run / "catalog").glob("shard-*.parquet"))) == 3
    assert len(list((trained / "resources/mock/targets/galaxies__galeffnet-tiny/cutouts")
                    .glob("shard-*.parquet"))) == 3


def test_predictions_equal_the_evaluation_rules(trained, galaxies):
    out, _, _ = galaxies
    evaluated = pd.read_parquet(trained / "results/galeffnet/predictions/tiny.parquet")
    both = out[out["predicted"]].merge(evaluated, on="object_id", suffixes=("", "_ev"))
    assert len(both) >= 30  # the test galaxies the preprocessing kept (and repeats)
    for t in ("lgm_fib_p50", "specsfr_fib_p50"):
        # float32 forward passes over differently composed batches agree to a few ulp
        # (2e-6 relative is ~16 ulp; a wrong image or calibration is off by far more)
        np.testing.assert_allclose(both[f"{t}_pred"], both[f"{t}_pred_ev"], rtol=2e-6, atol=0)
        assert (both[f"{t}_clipped"] == both[f"{t}_clipped_ev"]).all()
    # the calibrated 1-sigma: the MC spread times the evaluation's validation factor
    calibration = pd.read_csv(trained / "results/galeffnet/metrics/tiny/calibration.csv")
    for t in ("lgm_fib_p50", "specsfr_fib_p50"):
        scale = calibration.loc[calibration["target"] == t, "scale"].iloc[0]
        pred = out[out["predicted"]]
        np.testing.assert_allclose(pred[f"{t}_sigma"], scale * pred[f"{t}_sigma_mc"],
                                   rtol=1e-5)
        assert (pred[f"{t}_sigma_mc"] > 0).all()


def test_training_objects_are_flagged(trained, galaxies):
    out, _, _ = galaxies
    kept = pd.concat([pd.read_parquet(p) for p in
                      sorted((trained / "results/galaxies/preprocess").glob("*.parquet"))])
    seen = set(kept.loc[kept["kept"] & kept["split"].isin(["train", "val"]), "object_id"])
    assert (out["in_training_sample"] == out["object_id"].isin(seen)).all()
    assert out.loc[out["input_id"].str.startswith("train"), "in_training_sample"].all()
    assert not out.loc[out["input_id"].str.startswith("test"), "in_training_sample"].any()


def test_fits_table_has_units_and_model_keywords(galaxies):
    out, run, _ = galaxies
    with fits.open(run / "predictions.fits") as hdul:
        header, data = hdul[1].header, hdul[1].data
        assert header["MODEL"] == "galeffnet/tiny" and header["MODELVER"]
        assert header["NROWS"] == 50 and header["NPRED"] == int(out["predicted"].sum())
        units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}")
                 for i in range(1, header["TFIELDS"] + 1)}
        assert units["ra"] == "deg" and units["lgm_fib_p50_sigma"] == "dex(solMass)"
        assert list(data["input_id"]) == list(out["input_id"])
        np.testing.assert_array_equal(data["lgm_fib_p50_pred"], out["lgm_fib_p50_pred"])


def test_copied_model_predicts_the_same_without_results(repo, trained, galaxies, tmp_path):
    out, _, _ = galaxies
    model = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(trained / G_MODEL, model)
    workdir = tmp_path / "other"
    workdir.mkdir()
    # the archive (mock) and its raw downloads; no results/ at all
    shutil.copytree(trained / "resources", workdir / "resources")
    shutil.copy(trained / "config.yaml", workdir / "config.yaml")
    shutil.copy(trained / "galaxies.csv", workdir / "galaxies.csv")
    proc = subprocess.run([GALSTAR, "predict", "galaxies.csv", str(model), "-o",
                           "mine/predicted.parquet", "--configfile", "config.yaml",
                           "--cores", "2"], cwd=workdir, capture_output=True, text=True,
                          env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert not (workdir / "results/galeffnet").exists()
    again = pd.read_parquet(workdir / "mine/predicted.parquet")
    assert (workdir / "mine/predicted.fits").is_file()
    pd.testing.assert_series_equal(again["reject_reason"], out["reject_reason"])
    np.testing.assert_array_equal(again["lgm_fib_p50_pred"], out["lgm_fib_p50_pred"])
    np.testing.assert_array_equal(again["specsfr_fib_p50_pred"], out["specsfr_fib_p50_pred"])


def test_changed_preprocessing_fails_naming_the_key(repo, trained, galaxies, tmp_path):
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"galaxies": {"preprocess": {"ellipse_scale": 1.4}}}))
    model = tmp_path / "old" / "tiny"
    shutil.copytree(trained / G_MODEL, model)
    proc = _snakemake(repo, trained, "-n", "predict_targets", "--configfile",
                      str(trained / "config.yaml"), str(changed), "--config",
                      "targets=galaxies.csv", f"model={model}", check=False)
    assert proc.returncode != 0
    assert "galaxies.preprocess.ellipse_scale: model 1.8, config 1.4" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def stars(repo, trained):
    _spectrum_targets(trained).to_csv(trained / "spectra.csv", index=False)
    _snakemake(repo, trained, "predict_targets", "--config", "targets=spectra.csv",
               f"model={S_MODEL}")
    run = trained / "results/predict/spectra__stellar-starnet-vis-a"
    return pd.read_parquet(run / "predictions.parquet")


def test_stellar_targets(trained, stars):
    out = stars
    targets = pd.read_csv(trained / "spectra.csv", dtype=str, keep_default_na=False)
    assert list(out["input_id"]) == list(targets["Name"])
    reason = out.set_index("input_id")["reject_reason"]
    assert reason["nir"].startswith("wrong_arm")
    assert reason["missing"].startswith("missing_file")
    assert reason["broken"].startswith("unreadable")
    assert reason["blank"] == "bad_path: empty"
    again = out[out["input_id"] == "again"].iloc[0]
    assert again["duplicate_of"] == 3 and again["teff_pred"] == out.loc[3, "teff_pred"]
    # the training's observed chain: the same stars kept, the same reasons
    observed = pd.read_parquet(trained / "results/stellar/observed/vis.parquet")
    stars_only = out[out["input_id"].str.match(r"star\d+$")]
    assert list(stars_only["predicted"]) == list(observed["kept"])
    assert list(stars_only["reject_reason"]) == list(observed["reject_reason"])
    # regime a trains on the grid: no observed star is in its training sample
    assert not out["in_training_sample"].any()
    evaluated = pd.read_parquet(trained / "results/stellar/predictions/starnet-vis-a.parquet")
    sample = pd.read_parquet(trained / "results/stellar/sample.parquet")
    evaluated = evaluated.merge(sample[["object_id", "karmn"]], on="object_id")
    both = stars_only[stars_only["predicted"]].merge(evaluated, on="karmn",
                                                     suffixes=("", "_ev"))
    assert len(both) >= 20
    for t in ("teff", "logg", "mh"):
        np.testing.assert_allclose(both[f"{t}_pred"], both[f"{t}_pred_ev"], rtol=1e-6)


def test_sigma_sfr_targets_from_catalogue_features(repo, trained, galaxies):
    """The same positions for the catalogue-feature method: DR9 row and redshift in."""
    _snakemake(repo, trained, "predict_targets", "--config", "targets=galaxies.csv",
               f"model={F_MODEL}")
    out = pd.read_parquet(trained / "results/predict/galaxies__sigma_sfr-resnet/"
                          "predictions.parquet")
    images, _, _ = galaxies
    assert list(out["input_id"]) == list(images["input_id"])
    # positions: the same matches and coordinate rejects as for the image model
    early = ("bad_coordinates", "outside_footprint", "no_dr9_source")
    assert (out["object_id"] == images["object_id"]).all()
    first = out["reject_reason"].str.split(":").str[0]
    assert (first.isin(early) == images["reject_reason"].str.split(":").str[0].isin(early)).all()
    # no cutout: the training galaxies too large for the images are predicted here
    assert out.loc[out["input_id"].str.startswith(("test", "train")), "predicted"].all()
    evaluated = pd.read_parquet(trained / "results/sigma_sfr/predictions/resnet.parquet")
    both = out[out["predicted"]].merge(evaluated, on="object_id", suffixes=("", "_ev"))
    assert len(both) >= 35
    np.testing.assert_allclose(both["log_sigma_sfr_pred"], both["log_sigma_sfr_pred_ev"],
                               rtol=0, atol=1e-4)
    sample = pd.read_parquet(trained / "results/sigma_sfr/sample.parquet")
    seen = set(sample.loc[sample["kept"] & sample["split"].isin(["train", "val"]), "object_id"])
    assert (out["in_training_sample"] == out["object_id"].isin(seen)).all()
    assert out.loc[out["input_id"].str.startswith("train"), "in_training_sample"].all()
