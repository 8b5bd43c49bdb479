"""The stellar mock archive's formats: BT-Settl .spec.7 and CARMENES CARACAL files."""

from __future__ import annotations

import bz2
import json
import re

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.archives.btsettl import btsettl_filename, parse_btsettl_filename
from galstar.archives.carmenes import parse_carmenes_filename
from galstar.mock.btsettl import DF, fortran_d, spec7_bytes, write_spec7
from galstar.mock.carmenes import SENTINEL, karmn_id
from galstar.mock.stellar import build_stellar_mock
from galstar.mock.stellar_settings import validate_stellar_options

ROW = re.compile(rb"^ 0\.\d{10}D[+-]\d\d[ -]0\.\d{8}D[+-]\d\d[ -]0\.\d{8}D[+-]\d\d$")
N_STARS = 10
NODES = [[2300.0, 4.0, -1.0], [3300.0, 5.0, 0.0], [4500.0, 5.5, 0.5]]
OPTS = dict(vis_orders=[30, 31], nir_orders=[12], grid_subset=NODES, wrong_shape_fraction=0.3,
            nan_order_fraction=0.2, label_sentinel_fraction=0.2, label_missing_fraction=0.2,
            unlabelled_fraction=0.1, extra_label_fraction=0.2)


def _parse(text: bytes) -> np.ndarray:
    return np.loadtxt(text.replace(b"D", b"E").splitlines())


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("stellar")
    manifest = build_stellar_mock(root, N_STARS, seed=7, **OPTS)
    return root, manifest


def test_fortran_d_round_trips_and_spells_d():
    values = np.array([7012.3456789, 13.4567891234, 1.2e-4, -5.5, 9.99999999999, 0.0])
    fields = fortran_d(values, 8)
    text = [row.tobytes().decode() for row in fields]
    assert text[0] == " 0.70123457D+04" and text[3] == "-0.55000000D+01"
    assert text[4] == " 0.10000000D+02"  # the rounding carry moves the exponent
    back = np.array([float(t.replace("D", "E")) for t in text])
    assert np.allclose(back, values, rtol=1e-8, atol=0)


def test_spec7_rows_are_unsorted_with_duplicates_and_round_trip():
    rng = np.random.default_rng(0)
    wave = np.linspace(7000.0, 7100.0, 5000)
    flux = 1e5 * (1 + 0.5 * np.sin(wave))
    body = spec7_bytes(wave, flux, flux * 1.1, rng, shuffled_blocks=3, duplicate_rows=4)
    lines = body.splitlines()
    assert len(lines) == 5004 and all(ROW.match(ln) for ln in lines)
    table = _parse(body)
    assert np.any(np.diff(table[:, 0]) < 0)  # not sorted
    uniq, first = np.unique(table[:, 0], return_index=True)
    assert len(table) - len(uniq) == 4  # the duplicated wavelengths
    assert np.allclose(uniq, wave, rtol=1e-10)
    assert np.allclose(10 ** (table[first, 1] + DF), flux, rtol=3e-6)  # 8 digits of log10
    with pytest.raises(ValueError, match="> 0"):
        spec7_bytes(wave, np.zeros_like(wave), flux, rng)


def test_write_spec7_bz2_is_the_same_text(tmp_path):
    wave = np.linspace(9000.0, 9010.0, 300)
    flux = np.full(300, 3e5)
    for compress in (False, True):
        path = tmp_path / btsettl_filename(3000, 5.0, 0.0, compressed=compress)
        write_spec7(path, wave, flux, flux, np.random.default_rng(1), compress=compress)
    plain = (tmp_path / "lte030-5.0-0.0a+0.0.BT-Settl.spec.7").read_bytes()
    packed = (tmp_path / "lte030-5.0-0.0a+0.0.BT-Settl.spec.7.bz2").read_bytes()
    assert packed[:3] == b"BZh" and bz2.decompress(packed) == plain


def test_btsettl_names_follow_the_lyon_grid():
    assert btsettl_filename(3900, 5.0, 0.0) == "lte039-5.0-0.0a+0.0.BT-Settl.spec.7"
    assert btsettl_filename(2300, 4.5, -0.5) == "lte023-4.5-0.5a+0.0.BT-Settl.spec.7"
    assert btsettl_filename(4500, 5.5, 0.5) == "lte045-5.5+0.5a+0.0.BT-Settl.spec.7"
    assert parse_btsettl_filename("lte045-5.5+0.5a+0.0.BT-Settl.spec.7.bz2") == (
        4500.0, 5.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="not a BT-Settl"):
        parse_btsettl_filename("lte045-5.5.fits")


def test_karmn_ids():
    assert karmn_id(269.45, 4.69) == "J17578+046"
    assert karmn_id(0.5, -12.34) == "J00020-123"


def test_options_are_checked():
    with pytest.raises(ValueError, match="stellar.mock.options.vis_ordres"):
        validate_stellar_options({"vis_ordres": [1]})
    with pytest.raises(ValueError, match="nir_orders must list orders in 0..27"):
        validate_stellar_options({"nir_orders": [30]})
    with pytest.raises(ValueError, match="native_resolving_power must be >= 300000"):
        validate_stellar_options({"native_resolving_power": 1e5})


def test_grid_files(archive):
    root, manifest = archive
    files = sorted((root / "btsettl").iterdir())
    assert [f.name for f in files] == sorted(btsettl_filename(*n) for n in NODES)
    rows = manifest["btsettl"]["rows_per_file"]
    for f in files:
        body = f.read_bytes()
        assert body.count(b"D+") + body.count(b"D-") == 3 * rows
        table = _parse(body)
        assert len(table) == rows
        assert len(table) - len(np.unique(table[:, 0])) == 4
        assert np.any(np.diff(table[:, 0]) < 0)
        lo, hi = manifest["btsettl"]["windows_a"][0]
        assert table[:, 0].min() == pytest.approx(lo, rel=1e-9)
        assert np.all(table[:, 1] + DF > 0)  # log10 F ~ 5 erg/s/cm2/A for an M dwarf
    # cooler model, lower flux
    cool, hot = (_parse(f.read_bytes())[:, 1].mean() for f in (files[0], files[-1]))
    assert cool < hot


def test_caracal_files_shapes_and_headers(archive):
    root, _ = archive
    truth = pd.read_parquet(root / "truth" / "stars.parquet")
    listed = (root / "carmenes" / "files.txt").read_text().split()
    assert len(listed) == 2 * N_STARS
    for _, star in truth.iterrows():
        for arm, shape in (("vis", (2, 4096)), ("nir", (1, 4080))):
            rel = star[f"{arm}_file"]
            assert rel in listed
            stamp, got_arm, fibre = parse_carmenes_filename(rel)
            assert (got_arm, fibre) == (arm, "A")
            with fits.open(root / rel) as hdul:
                assert [h.name for h in hdul] == ["PRIMARY", "SPEC", "CONT", "SIG", "WAVE"]
                hdr = hdul[0].header
                assert hdul[0].data is None
                assert hdr["OBJECT"] == star["karmn"]
                assert hdr["HIERARCH CARACAL BERV"] == pytest.approx(star["berv"], abs=1e-5)
                for key in ("DATE-OBS", "MJD-OBS", "EXPTIME", "RA", "DEC",
                            "HIERARCH CARACAL BJD"):
                    assert key in hdr
                got = hdul["SPEC"].data.shape
                assert hdul["WAVE"].data.dtype == np.dtype(">f8")
                assert hdul["SPEC"].data.dtype == np.dtype(">f4")
                wave = hdul["WAVE"].data
                snr_keys = [k for k in hdr if k.startswith("CARACAL FOX SNR")]
                assert len(snr_keys) == got[0]
            injected = star["injected"]
            if f"wrong_shape_orders_{arm}" in injected:
                assert got == (shape[0] - 1, shape[1])
            elif f"wrong_shape_pixels_{arm}" in injected:
                assert got == (shape[0], shape[1] - 96)
            else:
                assert got == shape
            assert np.all(np.diff(wave, axis=1) > 0)
            assert stamp.startswith("20")
            if arm == "nir" and got[1] == 4080:
                step = np.diff(wave[0])
                assert step[2039] > 50 * np.median(step)  # the detector gap
    assert truth["injected"].str.contains("wrong_shape").sum() >= 1


def test_labels_csv_has_sentinels_gaps_and_strangers(archive):
    root, manifest = archive
    truth = pd.read_parquet(root / "truth" / "stars.parquet")
    labels = pd.read_csv(root / "labels" / "literature.csv")
    assert list(labels.columns) == ["Karmn", "Name", "SpT", "Teff", "e_Teff", "logg",
                                    "e_logg", "[Fe/H]", "e_[Fe/H]", "Ref"]
    labelled = set(truth.loc[truth["has_label"], "karmn"])
    assert labelled <= set(labels["Karmn"])
    assert not set(truth.loc[~truth["has_label"], "karmn"]) & set(labels["Karmn"])
    strangers = set(labels["Karmn"]) - set(truth["karmn"])
    assert len(strangers) == round(OPTS["extra_label_fraction"] * N_STARS)
    n_sentinel = int(((labels[["Teff", "logg", "[Fe/H]"]] == SENTINEL).sum(axis=1) > 0)
                     [~labels["Karmn"].isin(strangers)].sum())
    assert n_sentinel == truth["injected"].str.contains("label_sentinel").sum()
    n_missing = int(labels.loc[~labels["Karmn"].isin(strangers), ["Teff", "logg", "[Fe/H]"]]
                    .isna().any(axis=1).sum())
    assert n_missing == truth["injected"].str.contains("label_missing").sum()
    clean = labels.merge(truth, left_on="Karmn", right_on="karmn")
    clean = clean[(clean["Teff"] > 0) & clean["Teff"].notna()]
    assert np.abs(clean["Teff"] - clean["teff"]).max() < 5 * 40
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk["counts"]["label_rows"] == len(labels) == manifest["counts"]["label_rows"]


def test_truth_table_is_complete(archive):
    root, _ = archive
    truth = pd.read_parquet(root / "truth" / "stars.parquet")
    assert len(truth) == N_STARS and truth["karmn"].is_unique
    for col in ("teff", "logg", "mh", "vsini", "rv", "berv", "in_grid", "snr",
                "continuum_slope", "vis_file", "nir_file", "injected", "has_label"):
        assert col in truth.columns
    assert truth["vsini"].between(1.5, 30).all()
