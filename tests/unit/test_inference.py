"""Unit tests of galstar.inference: target lists, preprocessing records, the model
directory, calibration and the output table (no network, no Keras)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table

from galstar.inference import cli
from galstar.inference.model_dir import ModelDirectory, calibration_record, write_package
from galstar.inference.predict import calibrate
from galstar.inference.preprocessing import (
    PreprocessingMismatch,
    check_preprocessing,
    differing_keys,
    preprocessing_record,
)
from galstar.inference.table import assemble, write_table
from galstar.inference.targets import (
    TargetListError,
    duplicate_of,
    read_positions,
    read_spectrum_list,
)

REPO = Path(__file__).resolve().parents[2]


def test_positions_detect_columns_and_reject_bad_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Name,RAJ2000,DEJ2000,Redshift\n"
                    "a,150.5,2.25,0.1\nb,nan,2.0,0.1\nc,abc,2.0,0.1\nd,10,95,0.1\n"
                    "e,359.9,-89.0,x\n")
    t = read_positions(path)
    assert list(t["input_id"]) == ["a", "b", "c", "d", "e"]
    assert t.loc[0, "ra"] == 150.5 and t.loc[0, "reject_reason"] == ""
    assert t.loc[1, "reject_reason"] == "bad_coordinates: ra or dec is not finite"
    assert t.loc[2, "reject_reason"] == "bad_coordinates: RAJ2000 'abc' is not a number"
    assert t.loc[3, "reject_reason"].startswith("bad_coordinates: (10.0, 95.0) outside")
    assert np.isnan(t.loc[2, "ra"]) and t.loc[4, "reject_reason"] == ""  # z unused
    with_z = read_positions(path, need_redshift=True)
    assert with_z.loc[4, "reject_reason"].startswith("bad_redshift: Redshift 'x'")
    assert with_z.loc[0, "z"] == 0.1


def test_positions_from_fits_and_parquet_and_missing_column(tmp_path):
    Table({"RA": [1.0, 2.0], "Dec": [3.0, 4.0]}).write(tmp_path / "t.fits")
    t = read_positions(tmp_path / "t.fits")
    assert list(t["input_id"]) == ["0", "1"] and list(t["dec"]) == [3.0, 4.0]
    pd.DataFrame({"ra_deg": [5.0], "dec_deg": [6.0], "id": [7]}).to_parquet(tmp_path / "t.parquet")
    assert read_positions(tmp_path / "t.parquet").loc[0, "input_id"] == "7"
    (tmp_path / "noz.csv").write_text("ra,dec\n1,2\n")
    with pytest.raises(TargetListError, match=r"noz\.csv: no 'z' column"):
        read_positions(tmp_path / "noz.csv", need_redshift=True)
    (tmp_path / "nodec.csv").write_text("ra,declination_typo\n1,2\n")
    with pytest.raises(TargetListError, match=r"nodec\.csv: no 'dec' column"):
        read_positions(tmp_path / "nodec.csv")
    with pytest.raises(TargetListError, match="unknown format"):
        read_positions(tmp_path / "x.xlsx")


def test_spectrum_list_resolves_relative_paths(tmp_path):
    (tmp_path / "s.csv").write_text("FILE\nsub/a.fits\nhttps://x.org/b.fits\n\n/abs/c.fits\n")
    t = read_spectrum_list(tmp_path / "s.csv")
    assert list(t["spectrum"]) == [str(tmp_path / "sub/a.fits"), "https://x.org/b.fits",
                                   "", "/abs/c.fits"]
    assert list(t["reject_reason"]) == ["", "", "bad_path: empty", ""]


def test_duplicate_of_points_at_the_first_valid_row():
    keys = [5, 6, 5, -1, 6, 5]
    valid = np.array([True, True, True, False, True, True])
    assert list(duplicate_of(keys, valid)) == [-1, -1, 0, -1, 1, 0]


def test_preprocessing_record_and_mismatch_names_keys():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    exp = {"arm": "vis"}
    galaxy = preprocessing_record(config, "galeffnet", exp)
    assert galaxy["galaxies.preprocess.ellipse_scale"] == 1.8
    assert galaxy["galaxies.cutout.pixscale"] == 0.262
    assert not any(k.startswith("galaxies.preprocess.quality") for k in galaxy)
    changed = json.loads(json.dumps(config))
    changed["galaxies"]["preprocess"]["ellipse_scale"] = 1.4
    changed["galaxies"]["preprocess"]["blend"]["nsigma"] = 3.0
    changed["galaxies"]["preprocess"]["figure"]["n_objects"] = 2  # not preprocessing
    now = preprocessing_record(changed, "galeffnet", exp)
    assert differing_keys(galaxy, now) == ["galaxies.preprocess.blend.nsigma",
                                           "galaxies.preprocess.ellipse_scale"]
    with pytest.raises(PreprocessingMismatch, match=r"ellipse_scale: model 1\.8, config 1\.4"):
        check_preprocessing(galaxy, now, "m")
    check_preprocessing(galaxy, preprocessing_record(config, "galeffnet", exp), "m")
    stellar = preprocessing_record(config, "stellar", exp)
    assert stellar["stellar.arms.vis.grid.n_pixels"] == 2048
    assert not any(".nir." in k for k in stellar)
    features = preprocessing_record(config, "sigma_sfr", exp)
    assert features["sigma_sfr.features"][-1] == "z"
    with pytest.raises(ValueError, match="not available for method 'multimodal'"):
        preprocessing_record(config, "multimodal", exp)


def _calibration():
    return pd.DataFrame({"target": ["a", "a", "b", "b"], "level": [0.68, 0.95] * 2,
                         "scale": [1.5, 1.5, np.nan, np.nan],
                         "conformal_q": [1.1, 2.5, 1.0, np.inf]})


def _model(tmp_path) -> ModelDirectory:
    for name in ("model.keras", "scaler.json", "history.csv"):
        (tmp_path / name).write_text(name)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"experiment": {"name": "e"}}))
    write_package(tmp_path, method="galeffnet", experiment="e", evaluated_as="e",
                  code_version="abc123", archive="mock", targets=["a", "b"],
                  units={"a": "dex(solMass)", "b": "K"}, inference={"seed": 1},
                  inputs={"variant": "grz-32"}, preprocessing={"k.x": 1},
                  calibration=_calibration(), calibration_source="cal.csv",
                  metrics=pd.DataFrame({"target": ["a"], "MAE": [0.1]}),
                  sample=pd.DataFrame({"object_id": [1, 2], "split": ["train", "val"]}),
                  card="# card\n")
    return ModelDirectory.open(tmp_path)


def test_model_directory_checksums_and_calibration(tmp_path):
    model = _model(tmp_path)
    assert model.name == "galeffnet/e" and model.sigma_scale("a") == 1.5
    assert np.isnan(model.sigma_scale("b")) and np.isnan(model.conformal_q("b", 0.95))
    assert model.conformal_q("a", 0.95) == 2.5
    assert calibration_record(_calibration(), "x")["b"]["conformal_q"]["0.68"] == 1.0
    (tmp_path / "scaler.json").write_text("changed")
    with pytest.raises(ValueError, match="scaler.json differs"):
        ModelDirectory.open(tmp_path)
    (tmp_path / "model.json").unlink()
    with pytest.raises(FileNotFoundError, match="no model.json"):
        ModelDirectory.open(tmp_path)


def test_calibrate_scales_sigma_and_adds_conformal_interval(tmp_path):
    model = _model(tmp_path)
    frame = pd.DataFrame({"a_true": [np.nan], "a_pred": [10.0], "a_sigma": [0.2],
                          "b_pred": [1.0], "b_sigma": [0.5]})
    out = calibrate(frame, model)
    assert "a_true" not in out
    assert out.loc[0, "a_sigma"] == pytest.approx(0.3) and out.loc[0, "a_sigma_mc"] == 0.2
    assert out.loc[0, "a_lo95"] == pytest.approx(9.5) and out.loc[0, "a_hi95"] == 10.5
    assert np.isnan(out.loc[0, "b_sigma"]) and np.isnan(out.loc[0, "b_hi95"])


def test_assemble_keeps_every_row_in_order_and_writes_fits(tmp_path):
    model = _model(tmp_path)
    targets = pd.DataFrame({"input_row": np.arange(5), "input_id": list("vwxyz"),
                            "ra": [1.0, 2.0, np.nan, 1.0, 3.0],
                            "object_id": [11, 12, -1, 11, 13],
                            "duplicate_of": [-1, -1, -1, 0, -1],
                            "reject_reason": ["", "", "bad_coordinates: x", "", ""]})
    stage = pd.DataFrame({"object_id": [11, 12, 13], "kept": [True, False, True],
                          "reject_reason": ["", "too_large", ""],
                          "radius_arcsec": [2.0, 9.0, 1.0]})
    pred = pd.DataFrame({"object_id": [11], "a_pred": [9.5], "a_clipped": [False]})
    out = assemble(targets, "object_id", stage, pred, ["radius_arcsec"],
                   np.array([True, False, False, True, False]))
    assert list(out["reject_reason"]) == ["", "too_large", "bad_coordinates: x", "",
                                          "not_predicted"]
    assert list(out["predicted"]) == [True, False, False, True, False]
    assert out.loc[3, "a_pred"] == 9.5 and np.isnan(out.loc[1, "a_pred"])
    assert out.loc[1, "radius_arcsec"] == 9.0 and np.isnan(out.loc[2, "radius_arcsec"])
    assert list(out["in_training_sample"]) == [True, False, False, True, False]
    write_table(out, tmp_path / "o.parquet", tmp_path / "o.fits", model, "my_targets.csv")
    with fits.open(tmp_path / "o.fits") as hdul:
        header = hdul[1].header
        assert header["MODEL"] == "galeffnet/e" and header["MODELVER"] == "abc123"
        assert header["TARGETS"] == "my_targets.csv" and header["NPRED"] == 2
        units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}")
                 for i in range(1, header["TFIELDS"] + 1)}
        assert units["ra"] == "deg" and units["a_pred"] == "dex(solMass)"
        assert list(hdul[1].data["input_id"]) == list("vwxyz")
    assert pd.read_parquet(tmp_path / "o.parquet")["a_clipped"].dtype == bool


def test_console_script_runs_the_predict_targets_rule(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: calls.append(command) or 0)
    assert cli.main(["predict", "t.csv", "results/x/models/y/", "-o", "o.parquet",
                     "--configfile", "c.yaml", "--cores", "3", "--", "--dry-run"]) == 0
    command = calls[0]
    assert command[3] == "predict_targets" and command[-1] == "--dry-run"
    assert command[command.index("--cores") + 1] == "3"
    assert command[command.index("-s") + 1] == str(REPO / "Snakefile")
    config = command[command.index("--config") + 1:command.index("--dry-run")]
    assert config == ["targets=t.csv", "model=results/x/models/y", "out=o.parquet"]
    assert command[command.index("--configfile") + 1] == "c.yaml"
