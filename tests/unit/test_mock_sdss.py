"""The mock SDSS products: spec files laid out like the real fixture, under the SAS
path of their galSpec row; the DR7 flat files row-aligned and consistent with galSpec;
the existing archive untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from scipy.stats import spearmanr

from galstar.archives.sdss_spectra import sas_spectrum_path, validate_spec_file
from galstar.mock import build_mock_archive
from galstar.mock.mpajhu_dr7 import DR7_DIR, GAL_INFO_NAME, GAL_TOTSFR_NAME
from galstar.mock.sdss_settings import validate_sdss_options
from galstar.mock.sdss_spectra import SDSS_MANIFEST, SDSS_TRUTH, build_sdss_spectra
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.units import nmgy_to_mag

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/sdss/spec-0266-51602-0013.fits"
N_GAL, SEED = 150, 5


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdss_mock")
    build_mock_archive(root, N_GAL, 40, 300, SEED)
    before = _digests(root)
    manifest = build_sdss_spectra(root)
    return root, manifest, before


@pytest.fixture(scope="module")
def galspec(archive):
    return read_mock_mpajhu(archive[0] / MOCK_GALSPEC)


@pytest.fixture(scope="module")
def truth(archive):
    return pd.read_parquet(archive[0] / SDSS_TRUTH)


def test_existing_archive_files_unchanged(archive):
    root, manifest, before = archive
    after = _digests(root)
    assert {k: after[k] for k in before} == before
    new = set(after) - set(before)
    assert str(SDSS_MANIFEST) in new and str(SDSS_TRUTH) in new
    assert json.loads((root / SDSS_MANIFEST).read_text())["counts"] == manifest["counts"]


def test_layout_matches_the_real_file(archive, truth):
    root = archive[0]
    with fits.open(FIXTURE) as real, fits.open(root / truth["path"].iloc[0]) as mock:
        assert [h.name for h in mock] == [h.name for h in real]
        for name in ("COADD", "SPECOBJ", "SPZLINE"):
            assert mock[name].columns.names == real[name].columns.names, name
            assert mock[name].columns.formats == real[name].columns.formats, name
            assert mock[name].data.dtype == real[name].data.dtype, name
        assert len(mock["SPZLINE"].data) == len(real["SPZLINE"].data) == 29
        for key in ("PLATEID", "MJD", "FIBERID", "COEFF0", "COEFF1", "BUNIT", "VACUUM",
                    "PLUG_RA", "PLUG_DEC", "SPEC_ID", "NAME", "EXPTIME", "WFITTYPE"):
            assert key in mock[0].header and key in real[0].header, key
        loglam = mock["COADD"].data["loglam"]
        assert loglam[0] == pytest.approx(mock[0].header["COEFF0"], abs=1e-6)
        assert np.allclose(np.diff(loglam), 1e-4, atol=2e-6)


def test_specutils_reads_mock_and_real_alike(archive, truth):
    specutils = pytest.importorskip("specutils")
    for path in (FIXTURE, archive[0] / truth["path"].iloc[0]):
        spec = specutils.Spectrum.read(path, format="SDSS-III/IV spec")
        assert spec.spectral_axis.unit == "Angstrom"
        assert 3790 < spec.spectral_axis[0].value < 3810
        assert str(spec.flux.unit) == "1e-17 erg / (Angstrom s cm2)"


def test_one_file_per_galaxy_row_at_its_sas_path(archive, galspec, truth):
    root = archive[0]
    files = sorted(root.joinpath("sas").rglob("spec-*.fits"))
    gal_rows = galspec[galspec["spectrotype"] == "GALAXY"]
    assert len(files) == len(truth) == len(gal_rows)
    assert truth["specObjID"].tolist() == gal_rows["specObjID"].tolist()
    rows = gal_rows.set_index("specObjID")
    for t in truth.itertuples():
        row = rows.loc[t.specObjID]
        rel = sas_spectrum_path(row["plateid"], row["mjd"], row["fiberid"])
        assert t.path == rel
        info = validate_spec_file(root / rel, (row["plateid"], row["mjd"], row["fiberid"]))
        assert info.object_hdu == "SPECOBJ" and info.n_pixels == 3840 - row["plateid"] % 4
    # catalogue values copied, one file in full
    t = truth.iloc[3]
    with fits.open(root / t.path) as h:
        obj = h["SPECOBJ"].data[0]
        row = rows.loc[t.specObjID]
        assert (obj["PLATE"], obj["MJD"], obj["FIBERID"]) == (
            row["plateid"], row["mjd"], row["fiberid"])
        assert obj["Z"] == np.float32(row["z"]) and obj["ZWARNING"] == row["z_warning"]
        assert int(obj["SPECOBJID"]) == t.specObjID and obj["CLASS"] == "GALAXY"
        assert obj["SPECPRIMARY"] in (0, 1)
        assert h[0].header["PLATEID"] == row["plateid"]
        assert h[0].header["FIBERID"] == row["fiberid"]
        zline = h["SPZLINE"].data
        ha = zline[zline["LINENAME"] == "H_alpha"][0]
        assert ha["LINEAREA"] == pytest.approx(t.halpha_flux_true, rel=1e-5)


def test_one_primary_spectrum_per_galaxy(archive, truth):
    root = archive[0]
    repeated = truth[truth["galaxy_id"].duplicated(keep=False)]
    assert repeated["galaxy_id"].nunique() >= 3
    sample = pd.concat([repeated, truth.drop(repeated.index).iloc[:5]])
    primary = []
    for t in sample.itertuples():  # astropy parses the 126 SPECOBJ columns slowly
        with fits.open(root / t.path) as h:
            primary.append(int(h["SPECOBJ"].data["SPECPRIMARY"][0]))
    counts = sample.assign(p=primary).groupby("galaxy_id")["p"].sum()
    assert (counts == 1).all()


def test_noise_follows_catalogued_sn_and_magnitude(archive, galspec, truth):
    root = archive[0]
    gal = pd.read_parquet(root / "truth" / "galaxies.parquet").set_index("galaxy_id")
    rows = galspec.set_index("specObjID")
    measured, target, mag = [], [], []
    for t in truth[truth["bad_spectrum"] == ""].itertuples():
        with fits.open(root / t.path) as h:
            d = h["COADD"].data
            wave = 10 ** d["loglam"]
            r = (wave > 5600) & (wave < 6800) & (d["ivar"] > 0)
            measured.append(np.median(d["model"][r] * np.sqrt(d["ivar"][r])))
        target.append(rows.loc[t.specObjID, "sn_median_r"])
        g = gal.loc[t.galaxy_id]
        mag.append(nmgy_to_mag(g["flux_r"]))
    measured, target = np.array(measured), np.array(target)
    assert np.allclose(measured, target, rtol=0.05)
    low_sn = np.isin(truth.loc[truth["bad_spectrum"] == "", "specObjID"],
                     galspec.loc[galspec["sn_median_r"] < 5, "specObjID"])
    # galSpec's S/N (kept byte-identical) follows the total r magnitude with 0.12 dex
    # scatter; the spectra follow galSpec, so fainter galaxies are noisier
    rho = spearmanr(measured[~low_sn], np.array(mag)[~low_sn])[0]
    assert rho < -0.6


def test_dr7_files_row_aligned_and_consistent_with_galspec(archive, galspec):
    root = archive[0]
    with fits.open(root / DR7_DIR / GAL_INFO_NAME) as a, \
            fits.open(root / DR7_DIR / GAL_TOTSFR_NAME) as b:
        info, sfr = a[1].data, b[1].data
        assert len(info) == len(sfr) == len(galspec)
        assert set(sfr.columns.names) == {"MEDIAN", "P2P5", "P16", "P84", "P97P5", "MODE",
                                          "AVG", "ENTROPY", "FLAG"}
        ordered = galspec.sort_values(["plateid", "mjd", "fiberid"], ignore_index=True)
        for col, src in (("PLATEID", "plateid"), ("MJD", "mjd"), ("FIBERID", "fiberid")):
            assert np.array_equal(info[col], ordered[src].to_numpy())
        assert np.array_equal(info["Z"], ordered["z"].to_numpy(np.float32))
        for col, src in (("MEDIAN", "p50"), ("P16", "p16"), ("P84", "p84"),
                         ("P2P5", "p2p5"), ("P97P5", "p97p5"), ("ENTROPY", "entropy")):
            expect = ordered[f"sfr_tot_{src}"].to_numpy(np.float32)
            ok = sfr["FLAG"] == 0
            assert np.array_equal(sfr[col][ok], expect[ok]), col
        ok = sfr["FLAG"] == 0
        assert np.array_equal(~ok, ordered["spectrotype"].to_numpy() != "GALAXY")
        assert np.all(sfr["MEDIAN"][~ok] == -9999.0)
        for col in ("AVG", "MODE"):
            assert np.all((sfr[col][ok] > sfr["P2P5"][ok]) & (sfr[col][ok] < sfr["P97P5"][ok]))
        # quiescent PDFs are skewed low (long lower tail): mean below median, mode above
        skew = (sfr["P84"] - sfr["MEDIAN"]) - (sfr["MEDIAN"] - sfr["P16"])
        assert np.all(np.sign(sfr["AVG"][ok] - sfr["MEDIAN"][ok]) == np.sign(skew[ok]))


def test_pdf_wider_for_lineless_galaxies(archive, truth):
    root = archive[0]
    with fits.open(root / DR7_DIR / GAL_INFO_NAME) as a, \
            fits.open(root / DR7_DIR / GAL_TOTSFR_NAME) as b:
        key = pd.DataFrame({"plate": a[1].data["PLATEID"], "mjd": a[1].data["MJD"],
                            "fiberid": a[1].data["FIBERID"],
                            "width": b[1].data["P84"] - b[1].data["P16"]})
    t = truth[truth["bad_spectrum"] == ""].merge(key, on=["plate", "mjd", "fiberid"])
    assert len(t) == (truth["bad_spectrum"] == "").sum()
    with_lines = t.loc[t["lines_detected"], "width"]
    without = t.loc[~t["lines_detected"], "width"]
    assert len(with_lines) > 20 and len(without) > 10
    assert without.median() > 1.8 * with_lines.median()
    assert t["d4000_true"][~t["lines_detected"]].median() > 1.6  # old, line-less
    assert t["d4000_true"][t["lines_detected"]].median() < 1.45


def test_subset_and_settings_validated_before_writing(tmp_path, archive):
    with pytest.raises(ValueError, match="mock.sdss.n_spectrum"):
        build_sdss_spectra(tmp_path, n_spectrum=3)
    with pytest.raises(ValueError, match="mock.sdss.bad_spectrum_fraction"):
        validate_sdss_options({"bad_spectrum_fraction": 2.0})
    with pytest.raises(FileNotFoundError, match="not a complete mock archive"):
        build_sdss_spectra(tmp_path)
    assert not any(tmp_path.iterdir())


def test_ugriz_cutouts_layout_and_photometry(archive, galspec):
    from astropy.wcs import WCS

    from galstar.archives.validate import validate_cutout
    from galstar.mock.sdss_images import SDSS_IMAGE_DIR, MockSdssImageService, build_sdss_images
    from galstar.simulate.sdss_imaging import sdss_pixel_sigma, ugriz_fluxes

    root = archive[0]
    manifest = build_sdss_images(root, n_images=4)
    with pytest.raises(ValueError, match="mock.sdss.image_size"):
        build_sdss_images(root, image_size=4)
    assert manifest["n_images"] == 4
    assert json.loads((root / SDSS_IMAGE_DIR / "manifest.json").read_text()) == manifest
    rows = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID").iloc[:4]
    service = MockSdssImageService(root)
    for row, rel in zip(rows.itertuples(), manifest["files"], strict=True):
        assert rel == f"sdss_images/{row.specObjID}.fits"
        data = (root / rel).read_bytes()
        assert validate_cutout(data, 64, "ugriz").shape == (5, 64, 64)
        with fits.open(root / rel) as h:
            cube, header = h[0].data, h[0].header
        assert [header[f"BAND{k}"] for k in range(5)] == list("ugriz")
        ra, dec = WCS(header).celestial.wcs_pix2world([[32.5, 32.5]], 1)[0]
        assert (ra, dec) == pytest.approx((row.ra, row.dec), abs=1e-9)
        assert abs(header["CD2_2"] * 3600 - 0.396) < 1e-9
        noise = np.std(cube[:, :6, :6].reshape(5, -1), axis=1)  # corner: mostly sky
        assert np.all(noise < 1.6 * sdss_pixel_sigma())
        # the target's light is in the cutout: the noiseless r flux inside is its
        # catalogue flux (less what falls outside the 25 arcsec box, plus neighbours)
        sid = service._u.index[np.argmin(np.hypot(service._ra - row.ra,
                                                  service._dec - row.dec))]
        clean = service.image(row.ra, row.dec, noise=False)
        assert 0.6 < clean[2].sum() / service._flux[sid, 2] < 1.5
        assert np.std(cube[2] - clean[2]) == pytest.approx(sdss_pixel_sigma()[2], rel=0.1)
        assert np.array_equal(cube, service.image(row.ra, row.dec))  # deterministic
    # u from g - r, i between r and z; Galactic extinction strongest in u
    flux = ugriz_fluxes(np.array([[10.0, 20.0, 30.0], [10.0, 20.0, 30.0]]),
                        np.array(["galaxy", "star"]), np.array([0.0, 0.0]))
    g_r = -2.5 * np.log10(10 / 20)
    assert -2.5 * np.log10(flux[0, 0] / flux[0, 1]) == pytest.approx(0.3 + 2.0 * g_r)
    assert 20.0 < flux[0, 3] < 30.0 and flux[1, 0] != flux[0, 0]
    from galstar.simulate.photometry import EXTINCTION_R
    from galstar.simulate.sdss_imaging import SDSS_EXTINCTION_R

    decam = np.array([[10.0, 20.0, 30.0]]) * [10 ** (-0.04 * EXTINCTION_R[b]) for b in "grz"]
    red = ugriz_fluxes(decam, np.array(["galaxy"]), np.array([0.1]))
    expect = flux[0] * [10 ** (-0.04 * SDSS_EXTINCTION_R[b]) for b in "ugriz"]
    assert np.allclose(red[0], expect)  # the same galaxy seen through E(B-V) = 0.1


def test_smaller_rerun_removes_stale_spectra(archive, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(archive[0], root)
    manifest = build_sdss_spectra(root, n_spectra=5)
    files = sorted(root.joinpath("sas").rglob("spec-*.fits"))
    truth = pd.read_parquet(root / SDSS_TRUTH)
    assert manifest["counts"]["spectra"] == len(files) == len(truth) == 5
    assert sorted(str(f.relative_to(root)) for f in files) == sorted(truth["path"])
    with fits.open(root / DR7_DIR / GAL_INFO_NAME) as h:
        assert len(h[1].data) == manifest["counts"]["dr7_rows"]  # DR7 covers every row
