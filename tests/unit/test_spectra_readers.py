"""galstar.spectra readers on hand-written CARMENES and BT-Settl files (real layouts)."""

from __future__ import annotations

import bz2
import gzip
import re

import numpy as np
import pytest
from astropy.io import fits
from stellar_files import echelle_arrays, write_caracal, write_tabular

from galstar.spectra import SpectrumFormatError, read_btsettl, read_carmenes, stitch

# Hand-written .spec.7 rows: D exponents, unsorted, one duplicate wavelength (10001 A,
# the second occurrence must be dropped), one run-together pair (10000 A), a
# blackbody column and line-id columns that the reader ignores.
SPEC7 = """\
 0.1000200D+05 -0.3400D+01 -0.3300D+01   0  0  0
 0.1000000D+05-0.3500D+01 -0.3400D+01   0  0  0
 0.1000100D+05 -0.3450D+01 -0.3350D+01   0  0  0
 0.1000100D+05 -0.3999D+01 -0.3350D+01   0  0  0
 0.9999000D+04  0.1200D+01  0.1300D+01   0  0  0
"""
SPEC7_WAVE = np.array([9999.0, 10000.0, 10001.0, 10002.0])
SPEC7_FLUX = 10.0 ** (np.array([1.2, -3.5, -3.45, -3.4]) - 8.0)


def test_btsettl_d_exponents_unsorted_duplicate_run_together(tmp_path):
    path = tmp_path / "lte035-5.0-0.0a+0.0.BT-Settl.spec.7"
    path.write_text(SPEC7)
    wave, flux = read_btsettl(path)
    assert str(wave.unit) == "Angstrom"
    assert flux.unit.is_equivalent("erg / (s cm2 Angstrom)")
    np.testing.assert_array_equal(wave.value, SPEC7_WAVE)
    np.testing.assert_allclose(flux.to_value("erg / (s cm2 Angstrom)"), SPEC7_FLUX,
                               rtol=1e-12)
    assert np.all(np.diff(wave.value) > 0)


@pytest.mark.parametrize("compress, suffix", [(bz2.compress, ".bz2"), (gzip.compress, ".gz")])
def test_btsettl_compressed(tmp_path, compress, suffix):
    path = tmp_path / f"lte035-5.0-0.0a+0.0.BT-Settl.spec.7{suffix}"
    path.write_bytes(compress(SPEC7.encode()))
    wave, flux = read_btsettl(path)
    np.testing.assert_array_equal(wave.value, SPEC7_WAVE)
    np.testing.assert_allclose(flux.value, SPEC7_FLUX, rtol=1e-12)


def test_btsettl_other_df(tmp_path):
    path = tmp_path / "lte.spec.7"
    path.write_text(SPEC7)
    _, flux = read_btsettl(path, df=-26.9007901434)
    np.testing.assert_allclose(flux.value, SPEC7_FLUX * 10.0 ** (8.0 - 26.9007901434),
                               rtol=1e-12)


@pytest.mark.parametrize("content", ["", "\n  \n", "# no data here\n"])
def test_btsettl_empty_file_names_the_file(tmp_path, content):
    path = tmp_path / "lte023-4.0-0.0a+0.0.BT-Settl.spec.7"
    path.write_text(content)
    with pytest.raises(SpectrumFormatError, match=re.escape(str(path))):
        read_btsettl(path)


def test_btsettl_missing_file(tmp_path):
    with pytest.raises(SpectrumFormatError, match="no such BT-Settl file"):
        read_btsettl(tmp_path / "absent.spec.7")


def test_caracal_vis(tmp_path):
    arrays = echelle_arrays("vis", seed=3)
    path = write_caracal(tmp_path / "car-20160501T231105-sci-gtoc-vis_A.fits", "vis",
                         arrays=arrays)
    spec = read_carmenes(path)
    assert spec.arm == "vis" and spec.form == "caracal"
    assert spec.shape == (61, 4096)
    np.testing.assert_array_equal(spec.wavelength, arrays["WAVE"])
    np.testing.assert_allclose(spec.flux, arrays["SPEC"].astype(np.float32))
    np.testing.assert_allclose(spec.continuum, arrays["CONT"].astype(np.float32))
    assert spec.object_id == "J17578+046"
    assert spec.meta["MJD-OBS"] == pytest.approx(57509.96603)
    assert spec.berv == pytest.approx(12.5)
    assert spec.meta["BJD"] == pytest.approx(2457510.46742)
    assert spec.snr.shape == (61,) and spec.snr[0] == 80 and spec.snr[60] == 140
    assert not spec.sigma_placeholder and spec.bad_orders == ()
    assert spec.good.all()


def test_caracal_nir_split_at_detector_gap(tmp_path):
    arrays = echelle_arrays("nir", seed=4)
    assert arrays["WAVE"].shape == (28, 4080)
    path = write_caracal(tmp_path / "car-20160501T231105-sci-gtoc-nir_A.fits", "nir",
                         arrays=arrays)
    spec = read_carmenes(path)
    assert spec.arm == "nir" and spec.shape == (56, 2040)
    np.testing.assert_array_equal(spec.wavelength[0], arrays["WAVE"][0, :2040])
    np.testing.assert_array_equal(spec.wavelength[1], arrays["WAVE"][0, 2040:])
    np.testing.assert_array_equal(spec.wavelength[55], arrays["WAVE"][27, 2040:])
    assert list(spec.snr[:4]) == [80, 80, 81, 81]
    assert any("split 28x4080" in note for note in spec.notes)


def test_arm_from_order_count_when_name_says_nothing(tmp_path):
    path = write_caracal(tmp_path / "spectrum.fits", "nir", seed=5)
    assert read_carmenes(path).arm == "nir"


def test_tabular_vector_form_with_placeholder_sigma(tmp_path):
    arrays = echelle_arrays("vis", seed=6)
    path = write_tabular(tmp_path / "J11302+076.fits", arrays["WAVE"], arrays["SPEC"],
                         arrays["CONT"], np.ones_like(arrays["SPEC"]))
    spec = read_carmenes(path)
    assert spec.form == "table" and spec.arm == "vis" and spec.shape == (61, 4096)
    assert spec.sigma_placeholder
    assert np.isnan(spec.sigma).all()
    assert any("placeholder" in note for note in spec.notes)
    assert spec.object_id == "J11302+076" and spec.berv == pytest.approx(-3.25)
    np.testing.assert_array_equal(spec.wavelength, arrays["WAVE"])


def test_tabular_merged_form(tmp_path):
    wave = np.linspace(9700.0, 17000.0, 5000)
    spec_ = 1.0 + 0.01 * np.sin(wave)
    sig = np.full_like(wave, 0.02) * (1 + 0.1 * np.cos(wave))
    path = write_tabular(tmp_path / "merged.fits", wave, spec_, np.ones_like(wave), sig)
    spec = read_carmenes(path)
    assert spec.shape == (1, 5000) and spec.arm == "nir" and not spec.sigma_placeholder
    stitched = stitch(spec)
    np.testing.assert_allclose(stitched.flux, spec_)


def test_truncated_fits_names_the_file(tmp_path):
    path = write_caracal(tmp_path / "car-20160502T000000-sci-gtoc-vis_A.fits", "vis", seed=7)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SpectrumFormatError, match=re.escape(str(path))):
        read_carmenes(path)
    path.write_bytes(data[:1000])
    with pytest.raises(SpectrumFormatError, match=re.escape(str(path))):
        read_carmenes(path)


def test_missing_wave_extension_names_the_file(tmp_path):
    path = write_caracal(tmp_path / "car-20160503T000000-sci-gtoc-vis_A.fits", "vis",
                         seed=8, extensions=("SPEC", "CONT", "SIG"))
    with pytest.raises(SpectrumFormatError, match=re.escape(str(path)) + ".*WAVE"):
        read_carmenes(path)


def test_not_fits_names_the_file(tmp_path):
    path = tmp_path / "car-x-vis_A.fits"
    path.write_text("this is not FITS")
    with pytest.raises(SpectrumFormatError, match=re.escape(str(path))):
        read_carmenes(path)


def test_nan_orders_recorded_and_skipped(tmp_path):
    arrays = echelle_arrays("vis", seed=9)
    arrays["SPEC"][5] = np.nan
    arrays["SPEC"][20, 2000:2040] = np.nan  # a masked stretch mid-order
    path = write_caracal(tmp_path / "car-20160504T000000-sci-gtoc-vis_A.fits", "vis",
                         arrays=arrays)
    spec = read_carmenes(path)
    assert spec.bad_orders == (5,)
    assert any("without finite flux: 5" in note for note in spec.notes)
    assert not spec.good[20, 2000:2040].any() and spec.good[20, 2040:].all()
    stitched = stitch(spec)
    assert 5 not in stitched.orders and len(stitched.orders) == 60
    assert np.all(np.isfinite(stitched.flux))
    kinds = {g.kind for g in stitched.gaps}
    assert kinds == {"order_junction", "masked"}
    masked = [g for g in stitched.gaps if g.kind == "masked"]
    assert len(masked) == 1
    assert masked[0].start == pytest.approx(arrays["WAVE"][20, 1999])
    assert masked[0].stop == pytest.approx(arrays["WAVE"][20, 2040])


def test_nir_bad_half_order_after_split(tmp_path):
    arrays = echelle_arrays("nir", seed=10)
    arrays["SPEC"][3, 2040:] = np.nan  # the second detector of file order 3
    path = write_caracal(tmp_path / "car-20160505T000000-sci-gtoc-nir_A.fits", "nir",
                         arrays=arrays)
    assert read_carmenes(path).bad_orders == (7,)


def test_fits_header_keys_survive_roundtrip(tmp_path):
    # Guard on the test writer itself: HIERARCH keys are where CARACAL puts them.
    path = write_caracal(tmp_path / "car-20160506T000000-sci-gtoc-vis_A.fits", "vis", seed=11)
    with fits.open(path) as hdul:
        assert hdul[0].data is None
        assert [h.name for h in hdul[1:]] == ["SPEC", "CONT", "SIG", "WAVE"]
        assert hdul[0].header["HIERARCH CARACAL FOX SNR 60"] == 140
