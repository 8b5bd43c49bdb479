"""SDSS spectrum preprocessing (issue 13): the reader, the grid, bad files.

The reader on the real DR7 fixture and on a hand-written BOSS-style file; resampling
that conserves flux and keeps lines on their pixel; every bad input rejected with its
recorded reason while the rest of the shard is unaffected.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from galstar.spectra.errors import Rejected, SpectrumFormatError
from galstar.spectra.sdss import Spectrum, read_spectrum
from galstar.spectra.sdss_grid import (
    DEFAULT_SDSS_GRID,
    SPPIXMASK,
    SdssGridSettings,
    SpectrumGrid,
    bad_bits_value,
    to_grid,
)
from galstar.spectra.sdss_shard import preprocess_sdss_files

# A real DR7 spectrum (SDSS, public), kept in the repository.
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/sdss/spec-0266-51602-0013.fits"


def synthetic(flux, loglam0=3.5500, dloglam=1e-4, ivar=None, and_mask=None) -> Spectrum:
    """A Spectrum on SDSS's native 1e-4 dex sampling (default 3548-10400 A)."""
    flux = np.asarray(flux, dtype=np.float32)
    n = flux.size
    return Spectrum(
        source="synthetic", loglam=loglam0 + dloglam * np.arange(n), flux=flux,
        ivar=np.ones(n, np.float32) if ivar is None else np.asarray(ivar, np.float32),
        and_mask=np.zeros(n, np.int64) if and_mask is None else and_mask,
        or_mask=np.zeros(n, np.int64), plate=1, mjd=2, fiber=3, z=0.1, z_err=1e-5,
        zwarning=0, spec_class="GALAXY", subclass="", ra=0.0, dec=0.0, specobj_id="",
        table_name="SPECOBJ", hdu_names=("PRIMARY", "COADD", "SPECOBJ"))


# --- the reader ---------------------------------------------------------------------------

def test_reader_on_the_real_fixture_matches_astropy():
    s = read_spectrum(FIXTURE)
    assert s.n_pixels == 3838
    assert round(s.z, 4) == 0.1213
    assert s.spec_class == "GALAXY"
    assert (s.plate, s.mjd, s.fiber) == (266, 51602, 13)
    assert s.object_id == "0266-51602-0013"
    assert s.table_name == "SPECOBJ"
    assert s.header["PLATEID"] == 266
    with fits.open(FIXTURE) as hdul:
        coadd, specobj = hdul["COADD"].data, hdul["SPECOBJ"].data[0]
        for name in ("flux", "loglam", "ivar", "and_mask", "or_mask"):
            np.testing.assert_array_equal(getattr(s, name), coadd[name])
        assert s.z == specobj["Z"] and s.z_err == specobj["Z_ERR"]
        assert s.zwarning == specobj["ZWARNING"]
        assert s.ra == specobj["PLUG_RA"] and s.dec == specobj["PLUG_DEC"]
        assert s.specobj_id == specobj["SPECOBJID"].strip()
    np.testing.assert_allclose(s.wavelength[[0, -1]], [3803.64, 9202.38], atol=0.01)


def _boss_file(path: Path, exposures_first: bool = False) -> None:
    """A BOSS-style file: SPALL instead of SPECOBJ, three per-exposure HDUs."""
    n = 4600
    loglam = 3.5563 + 1e-4 * np.arange(n)
    flux = 10.0 + np.sin(np.arange(n) / 50.0)
    and_mask = np.zeros(n, np.uint32)  # unsigned: stored as J with TZERO = 2**31
    and_mask[2000:2010] = 1 << SPPIXMASK["BRIGHTSKY"]
    coadd = fits.BinTableHDU.from_columns([
        fits.Column("flux", "E", array=flux), fits.Column("loglam", "E", array=loglam),
        fits.Column("ivar", "E", array=np.full(n, 4.0)),
        fits.Column("and_mask", "J", bzero=2**31, array=and_mask),
        fits.Column("or_mask", "J", array=np.zeros(n)),
        fits.Column("wdisp", "E", array=np.ones(n)), fits.Column("sky", "E", array=np.ones(n)),
        fits.Column("model", "E", array=flux)], name="COADD")
    spall = fits.BinTableHDU.from_columns([
        fits.Column("PROGRAMNAME", "5A", array=["boss"]),
        fits.Column("PLATE", "J", array=[3586]), fits.Column("MJD", "J", array=[55181]),
        fits.Column("FIBERID", "J", array=[1]), fits.Column("CLASS", "6A", array=["GALAXY"]),
        fits.Column("SUBCLASS", "21A", array=["STARFORMING"]),
        fits.Column("Z", "E", array=[0.4321]), fits.Column("Z_ERR", "E", array=[1e-4]),
        fits.Column("ZWARNING", "J", array=[4]),
        fits.Column("PLUG_RA", "D", array=[10.5]), fits.Column("PLUG_DEC", "D", array=[-1.25]),
        fits.Column("SPECOBJID", "K", array=[4037558941566097408])], name="SPALL")
    zline = fits.BinTableHDU.from_columns([fits.Column("LINENAME", "13A", array=["H_alpha"])],
                                          name="SPZLINE")
    exposures = [fits.BinTableHDU.from_columns([
        fits.Column("flux", "E", array=flux), fits.Column("loglam", "E", array=loglam)],
        name=f"{cam}-00112233-00112230-00112231") for cam in ("B1", "R1", "B1")]
    primary = fits.PrimaryHDU()
    primary.header["PLUG_RA"] = 10.5
    hdus = ([primary, *exposures, zline, spall, coadd] if exposures_first
            else [primary, coadd, spall, zline, *exposures])
    fits.HDUList(hdus).writeto(path)


@pytest.mark.parametrize("exposures_first", [False, True])
def test_boss_style_file_reads(tmp_path, exposures_first):
    path = tmp_path / "spec-3586-55181-0001.fits"
    _boss_file(path, exposures_first)
    s = read_spectrum(path)
    assert s.table_name == "SPALL"
    assert s.n_pixels == 4600
    assert (s.plate, s.mjd, s.fiber, s.zwarning) == (3586, 55181, 1, 4)
    assert s.z == pytest.approx(0.4321, abs=1e-6)
    assert (s.spec_class, s.subclass) == ("GALAXY", "STARFORMING")
    assert s.specobj_id == "4037558941566097408"
    assert (s.ra, s.dec) == (10.5, -1.25)
    if exposures_first:  # found by EXTNAME, wherever the exposures are
        assert s.hdu_names[1:4] == ("B1-00112233-00112230-00112231",
                                    "R1-00112233-00112230-00112231",
                                    "B1-00112233-00112230-00112231")
    assert np.flatnonzero(s.and_mask).tolist() == list(range(2000, 2010))
    assert s.and_mask[2000] == 1 << SPPIXMASK["BRIGHTSKY"]
    flux, ivar, mask = to_grid(s)
    # 3600-10400 A covers the whole default grid: only the 10 BRIGHTSKY pixels mask.
    lo, hi = 10 ** (s.loglam[2000] - 0.5e-4), 10 ** (s.loglam[2009] + 0.5e-4)
    wave = DEFAULT_SDSS_GRID.wavelength()
    assert np.array_equal(np.flatnonzero(mask), np.flatnonzero((wave > lo) & (wave < hi)))
    assert ivar[~mask].min() > 0


# --- the grid -----------------------------------------------------------------------------

def test_flat_spectrum_flux_conserved_to_1e3():
    s = synthetic(np.full(6000, 7.5))
    flux, ivar, mask = to_grid(s, settings=SdssGridSettings(normalise="none"))
    assert not mask.any()
    np.testing.assert_allclose(flux, 7.5, rtol=1e-3)
    # Integrated flux over the grid's span equals the native one, also downsampled.
    coarse = SpectrumGrid(n_pixels=400)
    cflux, _, _ = to_grid(s, coarse, SdssGridSettings(normalise="none"))
    np.testing.assert_allclose(cflux, 7.5, rtol=1e-3)


def test_integrated_flux_of_a_varying_spectrum_conserved():
    rng = np.random.default_rng(3)
    s = synthetic(5.0 + rng.random(6000))
    wave = s.wavelength
    grid_wave = DEFAULT_SDSS_GRID.wavelength()
    flux, _, _ = to_grid(s, settings=SdssGridSettings(normalise="none"))
    edges = np.concatenate(([1.5 * grid_wave[0] - 0.5 * grid_wave[1]],
                            0.5 * (grid_wave[1:] + grid_wave[:-1]),
                            [1.5 * grid_wave[-1] - 0.5 * grid_wave[-2]]))
    new_total = np.sum(flux * np.diff(edges))
    old_edges = np.concatenate(([1.5 * wave[0] - 0.5 * wave[1]], 0.5 * (wave[1:] + wave[:-1]),
                                [1.5 * wave[-1] - 0.5 * wave[-2]]))
    cum = np.concatenate(([0.0], np.cumsum(s.flux * np.diff(old_edges))))
    old_total = np.diff(np.interp(edges[[0, -1]], old_edges, cum))[0]
    assert new_total == pytest.approx(old_total, rel=1e-3)


def _gaussian_line(loglam, centre, amp=200.0, sigma_a=2.5):
    wave = 10.0 ** loglam
    return amp * np.exp(-0.5 * ((wave - centre) / sigma_a) ** 2)


@pytest.mark.parametrize("nominal", [4861.3 * 1.1213, 6562.8 * 1.1213, 5006.8, 8000.0])
def test_injected_line_lands_on_expected_pixel(nominal):
    # The centre of the grid pixel nearest the nominal wavelength: a known pixel.
    centre = float(DEFAULT_SDSS_GRID.wavelength()[DEFAULT_SDSS_GRID.pixel_of(nominal)])
    fixture = read_spectrum(FIXTURE)
    line = _gaussian_line(fixture.loglam, centre)
    with_line = dataclasses.replace(fixture, flux=(fixture.flux + line).astype(np.float32))
    settings = SdssGridSettings(normalise="none", bad_bits=())
    base, _, _ = to_grid(fixture, settings=settings)
    flux, _, _ = to_grid(with_line, settings=settings)
    diff = flux - base
    expected = DEFAULT_SDSS_GRID.pixel_of(centre)
    assert int(np.argmax(diff)) == expected
    # The line's flux-weighted centre stays within a pixel of its wavelength.
    window = slice(expected - 15, expected + 16)
    wave = DEFAULT_SDSS_GRID.wavelength()[window]
    centroid = np.sum(wave * diff[window]) / np.sum(diff[window])
    assert abs(centroid - centre) < centre * DEFAULT_SDSS_GRID.dloglam * np.log(10)


def test_fixture_mask_uses_bad_bits_not_warnings():
    s = read_spectrum(FIXTURE)
    # MANYBADCOLUMNS (bit 4), a fibre warning, is on 1755 pixels; it masks nothing.
    assert int(((s.and_mask >> SPPIXMASK["MANYBADCOLUMNS"]) & 1).sum()) == 1755
    flux, ivar, mask = to_grid(s)
    bad_native = (s.and_mask & bad_bits_value(("BRIGHTSKY", "BADSKYCHI"))) != 0
    assert int(bad_native.sum()) == 54
    # 5 grid pixels below the fixture's 3803.6 A start, the rest from the 54 sky pixels.
    assert np.flatnonzero(mask)[:6].tolist() == [0, 1, 2, 3, 4, 2004]
    assert int(mask.sum()) == 69
    assert np.all(ivar[mask] == 0) and np.all(ivar[~mask] > 0)
    assert np.median(flux[~mask]) == pytest.approx(1.0, abs=1e-6)


def test_bad_bits_mask_and_linear_fill():
    n = 6000
    and_mask = np.zeros(n, np.int64)
    and_mask[3000:3040] = 1 << SPPIXMASK["BRIGHTSKY"]
    and_mask[1000:1040] = 1 << SPPIXMASK["MANYBADCOLUMNS"]  # a warning: kept by default
    flux_in = np.linspace(10.0, 20.0, n)
    flux_in[3000:3040] = 1e4  # garbage under the mask must not leak out
    s = synthetic(flux_in, and_mask=and_mask)
    flux, ivar, mask = to_grid(s, settings=SdssGridSettings(normalise="none"))
    wave = DEFAULT_SDSS_GRID.wavelength()
    lo, hi = 10 ** (s.loglam[3000] - 0.5e-4), 10 ** (s.loglam[3039] + 0.5e-4)
    inside = (wave > lo) & (wave < hi)
    assert mask[inside].all() and mask.sum() <= inside.sum() + 2
    run = np.flatnonzero(mask)
    a, b = run[0] - 1, run[-1] + 1
    expected = flux[a] + (flux[b] - flux[a]) * (wave[run] - wave[a]) / (wave[b] - wave[a])
    np.testing.assert_allclose(flux[run], expected, rtol=1e-5)
    assert flux.max() < 21
    # Masking every bit also masks the MANYBADCOLUMNS run.
    _, _, mask_all = to_grid(s, settings=SdssGridSettings(bad_bits=tuple(SPPIXMASK)))
    assert mask_all.sum() > mask.sum() + 40
    with pytest.raises(ValueError, match="NOTABIT"):
        SdssGridSettings(bad_bits=("NOTABIT",))


def test_errors_propagate_in_quadrature_and_normalisation_scales_ivar():
    s = synthetic(np.full(6000, 4.0), ivar=np.full(6000, 0.25))  # sigma 2
    # Grid pixels of exactly 10 native pixels, edges on native edges: ivar x 10.
    start = 3.55 + 4.5e-4 + 0.1
    coarse = SpectrumGrid(10**start, 10 ** (start + 299e-3), n_pixels=300)
    flux, ivar, _ = to_grid(s, coarse, SdssGridSettings(normalise="none"))
    np.testing.assert_allclose(ivar[1:-1], 2.5, rtol=1e-3)  # SpectRes widens the ends
    nflux, nivar, _ = to_grid(s, coarse, SdssGridSettings(normalise="median"))
    np.testing.assert_allclose(nflux, 1.0, rtol=1e-5)
    np.testing.assert_allclose(nivar, ivar * 16.0, rtol=1e-5)


def test_window_normalisation_and_grid_size():
    s = synthetic(np.linspace(1.0, 3.0, 6000))
    settings = SdssGridSettings(normalise="window", window=(6000.0, 6100.0))
    grid = SpectrumGrid(n_pixels=1000)
    flux, ivar, mask = to_grid(s, grid, settings)
    assert flux.shape == ivar.shape == mask.shape == (1000,)
    wave = grid.wavelength()
    sel = (wave >= 6000) & (wave <= 6100)
    assert np.median(flux[sel]) == pytest.approx(1.0, abs=2e-3)


@pytest.mark.parametrize("case, code", [
    ("nan", "nonfinite_flux"), ("masked", "all_masked"), ("outside", "no_coverage"),
    ("negative", "bad_normalisation"), ("unsorted", "bad_wavelength")])
def test_to_grid_rejects(case, code):
    flux = np.full(6000, 3.0)
    ivar = np.ones(6000)
    loglam0 = 3.55
    if case == "nan":
        flux[10] = np.nan
    elif case == "masked":
        ivar[:] = 0
    elif case == "outside":
        loglam0 = 4.2  # 15800 A onwards
    elif case == "negative":
        flux[:] = -1.0
    s = synthetic(flux, loglam0=loglam0, ivar=ivar)
    if case == "unsorted":
        s = dataclasses.replace(s, loglam=s.loglam[::-1].copy())
    with pytest.raises(Rejected) as err:
        to_grid(s)
    assert err.value.code == code


def test_settings_from_mapping_names_bad_keys():
    s = SdssGridSettings.from_mapping({"bad_bits": ["NODATA", "BRIGHTSKY"], "fill": "zero",
                                       "window": [6000, 6500]})
    assert s.bad_value == (1 << 24) | (1 << 23)
    assert s.window == (6000, 6500)
    with pytest.raises(ValueError, match=r"unknown key\(s\) spectra\.smooth;"):
        SdssGridSettings.from_mapping({"smooth": 3})
    with pytest.raises(ValueError, match="spectra.fill: 'cubic'"):
        SdssGridSettings.from_mapping({"fill": "cubic"})
    assert SpectrumGrid.from_mapping({"n_pixels": 2000}).n_pixels == 2000


# --- bad files in a shard -----------------------------------------------------------------

def _write_variant(path: Path, kind: str, fiber: int) -> None:
    raw = FIXTURE.read_bytes()
    if kind == "truncated":
        path.write_bytes(raw[:100_000])
        return
    if kind == "html":
        path.write_text("<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n")
        return
    with fits.open(FIXTURE) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus[2].data["FIBERID"][0] = fiber  # the object the file name says
    if kind == "no_coadd":
        hdus = [h for h in hdus if h.name != "COADD"]
    elif kind == "all_masked":
        hdus[1].data["ivar"][:] = 0
    elif kind == "nan_flux":
        hdus[1].data["flux"][100:110] = np.nan
    elif kind == "good":
        hdus[1].data["flux"] *= 2.0  # the same spectrum, twice as bright
        hdus[1].data["ivar"] /= 4.0
    fits.HDUList(hdus).writeto(path)


def test_shard_records_each_bad_file_and_keeps_the_rest(tmp_path):
    kinds = ["good", "truncated", "html", "no_coadd", "all_masked", "nan_flux", "missing",
             "good2"]
    paths = []
    for i, kind in enumerate(kinds):
        path = tmp_path / f"spec-0266-51602-{i + 1:04d}.fits"
        if kind != "missing":
            _write_variant(path, "good" if kind == "good2" else kind, i + 1)
        paths.append(path)
    shard = preprocess_sdss_files([FIXTURE, *paths])
    t = shard.table
    assert len(t) == 9
    got = list(zip(t["reject_reason"], t["reject_detail"], strict=True))
    assert got == [
        ("", ""), ("", ""),
        ("unreadable_spectrum", "truncated"), ("unreadable_spectrum", "not_fits"),
        ("unreadable_spectrum", "missing_hdu:COADD"), ("bad_spectrum", "all_masked"),
        ("bad_spectrum", "nonfinite_flux"), ("unreadable_spectrum", "missing_file"),
        ("", "")]
    # Each reject names its object (from the file name when the file cannot be read).
    assert t["object_id"].tolist()[2:8] == [f"0266-51602-{i:04d}" for i in range(2, 8)]
    for msg, path in zip(t["reject_message"][2:8], paths[1:7], strict=True):
        assert msg.startswith(str(path))
    assert t["kept"].tolist() == [True, True] + [False] * 6 + [True]
    assert t["row"].tolist() == [0, 1, -1, -1, -1, -1, -1, -1, 2]
    assert shard.x.shape == (3, 2, 4620) and shard.x.dtype == np.float32
    assert shard.ivar.shape == (3, 4620)
    # The rest of the shard is unaffected: identical to gridding the files alone.
    ref_flux, ref_ivar, ref_mask = to_grid(read_spectrum(FIXTURE))
    np.testing.assert_array_equal(shard.x[0, 0], ref_flux)
    np.testing.assert_array_equal(shard.x[0, 1], ref_mask.astype(np.float32))
    np.testing.assert_allclose(shard.x[1, 0], ref_flux, rtol=1e-5)  # 2x flux, normalised
    np.testing.assert_allclose(shard.ivar[1], ref_ivar, rtol=1e-4)
    assert t.loc[0, "z"] == pytest.approx(0.1213, abs=1e-4)
    assert t.loc[0, "masked_fraction"] == pytest.approx(69 / 4620)


def test_reader_errors_name_the_file(tmp_path):
    path = tmp_path / "spec-0001-00002-0003.fits"
    path.write_bytes(FIXTURE.read_bytes()[:2880 * 40])  # whole blocks, data cut short
    with pytest.raises(SpectrumFormatError, match=rf"^{path}: truncated"):
        read_spectrum(path)
    path.write_bytes(b"")
    with pytest.raises(SpectrumFormatError, match="not_fits"):
        read_spectrum(path)


def test_mock_spectra_pass_the_reader(tmp_path):
    """Files in the mock archive's byte layout (galstar.mock.sdss_layout) read and grid;
    a dead fibre (NODATA everywhere) is rejected, a missing camera is masked."""
    from dataclasses import replace

    from galstar.mock.sdss_layout import SPZLINE_LINES, empty_records, spec_file_bytes
    from galstar.simulate.galaxy_spectra import SpectrumModel, sdss_loglam, simulate_spectra

    n = 6
    rng = np.random.default_rng(5)
    z = np.linspace(0.03, 0.25, n)
    loglam = sdss_loglam()
    spec = simulate_spectra(z, np.full(n, 20.0), np.full(n, -9.0), np.full(n, 9.5),
                            np.full(n, 10.3), np.full(n, 0.5), np.full(n, 120.0),
                            np.full(n, 15.0), rng,
                            m=replace(SpectrumModel(), bad_spectrum_fraction=0.0),
                            loglam=loglam)
    spec.ivar[0] = 0.0  # a dead fibre, as the simulator writes one
    spec.and_mask[0] |= 1 << SPPIXMASK["NODATA"]
    paths = []
    for i in range(n):
        coadd = empty_records("COADD", loglam.size)
        coadd["flux"], coadd["loglam"], coadd["ivar"] = spec.flux[i], loglam, spec.ivar[i]
        coadd["and_mask"], coadd["or_mask"] = spec.and_mask[i], spec.or_mask[i]
        obj = empty_records("SPECOBJ", 1)
        for name, value in (("PLATE", 300), ("MJD", 51666), ("FIBERID", i + 1), ("Z", z[i]),
                            ("Z_ERR", 1e-5), ("CLASS", b"GALAXY")):
            obj[name] = value
        lines = empty_records("SPZLINE", len(SPZLINE_LINES))
        path = tmp_path / f"spec-0300-51666-{i + 1:04d}.fits"
        path.write_bytes(spec_file_bytes({"PLATEID": 300, "FIBERID": i + 1}, coadd, obj, lines))
        paths.append(path)
    s = read_spectrum(paths[1])
    assert (s.n_pixels, s.spec_class, s.object_id) == (loglam.size, "GALAXY", "0300-51666-0002")
    assert s.z == pytest.approx(z[1], rel=1e-6)
    np.testing.assert_array_equal(s.flux, spec.flux[1].astype(np.float32))
    shard = preprocess_sdss_files(paths)
    assert shard.table["reject_detail"].tolist() == ["all_masked"] + [""] * (n - 1)
    assert shard.x.shape == (n - 1, 2, 4620)
    # H-alpha and H-beta peak within a pixel of their redshifted wavelengths, where not
    # masked (the mock flags BRIGHTSKY on sky lines, and a line can fall on one).
    checked = 0
    for k, zi in enumerate(z[1:]):
        for rest in (6564.6, 4862.7):
            pix = DEFAULT_SDSS_GRID.pixel_of(rest * (1 + zi))
            if shard.x[k, 1, pix - 2:pix + 3].any():
                continue
            seg = shard.x[k, 0, pix - 8:pix + 9]
            assert abs(int(np.argmax(seg)) - 8) <= 1, (k, rest)
            checked += 1
    assert checked >= 6
