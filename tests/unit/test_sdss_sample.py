"""Per-shard assembly of the SDSS sample: bad spectrum files (truncated, HTML, missing
COADD, all masked, NaN flux), failed downloads, bad cutouts and missing DR7 statistics
each give their recorded reason naming the object or file; every other object of the
shard is processed exactly as on its own; tensors and table rows line up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.catalog.sdss import SFR_COLUMNS, assemble_sdss_table, sdss_targets
from galstar.imaging.sdss import (
    SDSS_SOFTENING_NMGY,
    SdssImageSettings,
    preprocess_images_shard,
    stretch_ugriz,
)
from galstar.io import write_parquet
from galstar.spectra.sdss import read_spectrum
from galstar.spectra.sdss_grid import SdssGridSettings, SpectrumGrid, to_grid
from galstar.spectra.sdss_sample import (
    preprocess_spectra_shard,
    spectra_settings,
    write_grid_description,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/sdss/spec-0266-51602-0013.fits"
GRID = SpectrumGrid(n_pixels=1200)
SETTINGS = SdssGridSettings()
N = 12
#: object index -> what is wrong with it (the expected first reason and detail code)
EXPECTED = {
    0: ("", ""),
    1: ("no_sfr_stats", "no finite sfr_tot_avg"),
    2: ("unreadable_spectrum", "truncated"),
    3: ("unreadable_spectrum", "not_fits"),
    4: ("unreadable_spectrum", "missing_hdu:COADD"),
    5: ("bad_spectrum", "all_masked"),
    6: ("bad_spectrum", "nonfinite_flux"),
    7: ("no_spectrum", "http_404"),
    8: ("no_image", "not_in_archive"),
    9: ("bad_image", "nonfinite_pixels:r"),
    10: ("no_sfr_stats", "no finite"),
    11: ("", ""),
}


def _spec_file(path: Path, edit=None, drop_coadd: bool = False) -> None:
    with fits.open(FIXTURE) as hdul:
        hdus = [h.copy() for h in hdul]
    if edit is not None:
        edit(hdus[1].data)
    if drop_coadd:
        hdus = [hdus[0], *hdus[2:]]
    fits.HDUList(hdus).writeto(path)


def _cutout(path: Path, rng, nan_band: int | None = None) -> None:
    yy, xx = np.mgrid[:64, :64] - 31.5
    blob = np.exp(-(xx**2 + yy**2) / (2 * 3.0**2))
    cube = np.stack([f * blob for f in (0.5, 2.0, 4.0, 5.0, 6.0)])
    cube += rng.normal(0.0, 0.05, cube.shape)
    if nan_band is not None:
        cube[nan_band, 10, 10] = np.nan
    fits.PrimaryHDU(cube.astype(np.float32)).writeto(path)


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """Catalogue, manifests and DR7 table of one shard with one fault per object."""
    root = tmp_path_factory.mktemp("sdss_sample")
    rng = np.random.default_rng(1)
    ids = np.arange(N, dtype=np.int64) + 9_000_000_000
    catalog = pd.DataFrame({
        "object_id": ids, "split": ["train", "val", "test"] * 4, "shard": np.int16(0),
        "specObjID": ids + 1, "plateid": 266, "mjd": 51602, "fiberid": np.arange(N) + 1,
        "ra": rng.uniform(140, 150, N), "dec": rng.uniform(0, 5, N), "z": 0.1213,
    })
    spectra, images = [], []
    for i in range(N):
        path = root / f"spec-0266-51602-{i + 1:04d}.fits"
        if i == 2:
            path.write_bytes(FIXTURE.read_bytes()[:20_000])
        elif i == 3:
            path.write_bytes(b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>")
        elif i == 4:
            _spec_file(path, drop_coadd=True)
        elif i == 5:
            _spec_file(path, lambda d: d["ivar"].__setitem__(slice(None), 0.0))
        elif i == 6:
            _spec_file(path, lambda d: d["flux"].__setitem__(slice(100, 103), np.nan))
        else:
            shutil.copyfile(FIXTURE, path)
            if i in (1, 11):  # distinct spectra, to check the row alignment
                _spec_file(path.with_suffix(".tmp"),
                           lambda d, k=i: d["flux"].__setitem__(slice(None), d["flux"] * k))
                path.with_suffix(".tmp").replace(path)
        failed = i == 7
        spectra.append({"object_id": ids[i], "specObjID": ids[i] + 1, "plate": 266,
                        "mjd": 51602, "fiberid": i + 1, "url": f"https://sas.test/{path.name}",
                        "path": "" if failed else str(path),
                        "status": "failed" if failed else "ok",
                        "reject_reason": "http_404" if failed else "", "sha256": "",
                        "attempts": 1})
        cut = root / f"{ids[i]}.fits"
        if i != 8:
            _cutout(cut, rng, nan_band=2 if i == 9 else None)
        images.append({"object_id": ids[i], "ra": 0.0, "dec": 0.0,
                       "path": "" if i == 8 else str(cut), "status": "failed" if i == 8 else "ok",
                       "reject_reason": "not_in_archive: no cutout" if i == 8 else "",
                       "n_frames": 5})
    write_parquet(pd.DataFrame(spectra), root / "spectra_manifest.parquet")
    write_parquet(pd.DataFrame(images), root / "images_manifest.parquet")
    # DR7: shuffled, one object missing (1), one sentinel (10), one unrelated row
    dr7 = pd.DataFrame({"plateid": 266, "mjd": 51602, "fiberid": np.arange(N) + 1})
    for k, col in enumerate(SFR_COLUMNS):
        dr7[col] = 0.1 * k + 0.01 * np.arange(N)
    dr7["sfr_tot_flag"] = 0
    dr7.loc[10, "sfr_tot_p16"] = -9999.0
    dr7 = pd.concat([dr7.drop(index=1), pd.DataFrame(
        {"plateid": [300], "mjd": [51602], "fiberid": [1], **{c: [5.0] for c in SFR_COLUMNS},
         "sfr_tot_flag": [0]})]).sample(frac=1.0, random_state=3).reset_index(drop=True)
    spec_table = preprocess_spectra_shard(root / "spectra_manifest.parquet",
                                          root / "spectra.parquet", root / "spectra.npy",
                                          GRID, SETTINGS)
    image_table = preprocess_images_shard(root / "images_manifest.parquet",
                                          root / "images.parquet", root / "images.npy",
                                          SdssImageSettings())
    targets = sdss_targets(catalog, dr7)
    table = assemble_sdss_table(targets, spec_table, image_table)
    return {"root": root, "catalog": catalog, "table": table, "dr7": dr7,
            "spectra": np.load(root / "spectra.npy"), "images": np.load(root / "images.npy")}


def test_every_object_once_in_catalogue_order_with_its_reason(shard):
    table = shard["table"]
    assert len(table) == N
    assert table["object_id"].tolist() == shard["catalog"]["object_id"].tolist()
    for i, (reason, detail) in EXPECTED.items():
        row = table.iloc[i]
        assert row["reject_reason"] == reason, (i, row["reject_reason"], row["reject_detail"])
        assert row["kept"] == (reason == "")
        assert detail in row["reject_detail"], (i, row["reject_detail"])
    # the detail names the file (spectra, cutouts) or the object (download, DR7)
    for i in (2, 3, 4, 5, 6):
        assert f"spec-0266-51602-{i + 1:04d}.fits" in table["reject_detail"].iat[i]
    assert "spec-0266-51602-0008.fits" in table["reject_detail"].iat[7]  # the URL
    assert str(table["object_id"].iat[8]) in table["reject_detail"].iat[8]
    assert f"{table['object_id'].iat[9]}.fits" in table["reject_detail"].iat[9]
    assert str(table["object_id"].iat[1]) in table["reject_detail"].iat[1]
    assert table["kept"].sum() == 2


def test_tensor_rows_and_shapes(shard):
    table, x, img = shard["table"], shard["spectra"], shard["images"]
    good_spectra = [0, 1, 8, 9, 10, 11]
    good_images = [i for i in range(N) if i not in (8, 9)]
    assert x.shape == (len(good_spectra), GRID.n_pixels, 2) and x.dtype == np.float32
    assert img.shape == (len(good_images), 64, 64, 5) and img.dtype == np.float32
    assert table["spectrum_row"].tolist() == [
        good_spectra.index(i) if i in good_spectra else -1 for i in range(N)]
    assert table["image_row"].tolist() == [
        good_images.index(i) if i in good_images else -1 for i in range(N)]
    assert set(np.unique(x[..., 1])) <= {0.0, 1.0}


def test_rest_of_the_shard_is_processed_as_on_its_own(shard):
    """Each good spectrum's tensor row is its own to_grid result; each image its stretch."""
    table, x, img = shard["table"], shard["spectra"], shard["images"]
    for i in (0, 1, 11):
        row = table.iloc[i]
        flux, _, mask = to_grid(read_spectrum(row["spectrum_source"]), GRID, SETTINGS)
        np.testing.assert_array_equal(x[row["spectrum_row"], :, 0], flux)
        np.testing.assert_array_equal(x[row["spectrum_row"], :, 1], mask.astype(np.float32))
        assert row["spec_z"] == pytest.approx(0.1213, abs=1e-4)
        cube = fits.getdata(row["image_source"]).astype(np.float32)
        np.testing.assert_allclose(
            img[row["image_row"]], stretch_ugriz(cube, np.array(SDSS_SOFTENING_NMGY, np.float32)),
            rtol=1e-6)
    # flux scaled by 11 vs 1: the same normalised shape, so the rows are told apart only
    # by their sources: the tables say which file each row came from
    assert table["spectrum_source"].iat[11].endswith("0012.fits")


def test_dr7_statistics_joined_by_plate_mjd_fiber(shard):
    table, dr7 = shard["table"], shard["dr7"]
    for i in (0, 11):
        src = dr7[dr7["fiberid"].eq(i + 1) & dr7["plateid"].eq(266)].iloc[0]
        for col in SFR_COLUMNS:
            assert table[col].iat[i] == pytest.approx(src[col])
    assert table.loc[1, list(SFR_COLUMNS)].isna().all()  # no DR7 row
    assert np.isnan(table["sfr_tot_p16"].iat[10]) and np.isfinite(table["sfr_tot_p84"].iat[10])
    assert table["z"].dtype == np.float64 and table["specobjid"].dtype == np.int64


def test_masking_zeroes_outside_the_target_and_rejects_without_one(tmp_path):
    rng = np.random.default_rng(4)
    _cutout(tmp_path / "a.fits", rng)
    fits.PrimaryHDU(rng.normal(0, 0.05, (5, 64, 64)).astype(np.float32)).writeto(
        tmp_path / "b.fits")
    fits.PrimaryHDU(np.zeros((5, 60, 64), np.float32)).writeto(tmp_path / "c.fits")
    write_parquet(pd.DataFrame({
        "object_id": [1, 2, 3], "path": [str(tmp_path / f"{c}.fits") for c in "abc"],
        "status": "ok", "reject_reason": ""}), tmp_path / "m.parquet")
    table = preprocess_images_shard(tmp_path / "m.parquet", tmp_path / "t.parquet",
                                    tmp_path / "x.npy", SdssImageSettings(mask=True))
    assert table["image_reason"].tolist() == ["", "bad_image", "bad_image"]
    assert table["image_detail"].iat[1].startswith("no_center_source")
    assert table["image_detail"].iat[2].startswith("bad_shape:5x60x64")
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (1, 64, 64, 5)
    assert (x[0, :5, :5] == 0).all() and (x[0, 28:36, 28:36] > 0.5).all()


def test_settings_and_grid_description(tmp_path):
    grid, settings = spectra_settings({"grid": {"n_pixels": 100}, "fill": "zero"})
    assert grid.n_pixels == 100 and settings.fill == "zero"
    with pytest.raises(ValueError, match="galaxies.sdss.spectra.*nomalise"):
        spectra_settings({"nomalise": "median"})
    with pytest.raises(ValueError, match="softening_nmgy"):
        SdssImageSettings.from_mapping({"softening_nmgy": [1, 2]})
    desc = write_grid_description(GRID, SETTINGS, tmp_path / "grid.json")
    assert json.loads((tmp_path / "grid.json").read_text()) == desc
    wave = 10 ** (desc["loglam_start"] + np.arange(desc["n_pixels"]) * desc["loglam_step"])
    np.testing.assert_allclose(wave, GRID.wavelength(), rtol=1e-12)


def test_config_check_names_bad_sdss_settings(repo):
    import yaml

    from galstar.config_checks import ConfigError, check_config

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    check_config(config)  # the demo's settings build
    config["galaxies"]["sdss"]["spectra"]["grid"].update(start=9000.0, stop=4000.0)
    config["galaxies"]["sdss"]["spectra"]["bad_bits"] = ["NOSUCHBIT"]
    config["mock"]["sdss"] = {"n_images": -1}
    with pytest.raises(ConfigError) as err:
        check_config(config)
    text = str(err.value)
    assert "galaxies.sdss.spectra" in text and "mock.sdss.n_images" in text
