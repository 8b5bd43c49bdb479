"""The mock archive: real formats, truth consistent with the catalogues, cutouts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy.spatial import cKDTree

from galstar.units import unit_vectors

mock = pytest.importorskip("galstar.mock")

N_GAL, N_FIELD, N_STARS, SEED = 400, 1200, 200, 21

GALSPEC_COLUMNS = (
    ["specObjID", "plateid", "mjd", "fiberid", "ra", "dec", "primtarget", "targettype",
     "spectrotype", "subclass", "z", "z_err", "z_warning", "v_disp", "sn_median_u",
     "sn_median_g", "sn_median_r", "sn_median_i", "sn_median_z", "e_bv_sfd", "release",
     "reliable", "bptclass"]
    + [f"{q}_{k}_{s}" for q in ("lgm", "sfr", "specsfr") for k in ("tot", "fib")
       for s in ("p2p5", "p16", "p50", "p84", "p97p5") + (() if q == "lgm" else ("entropy",))]
)
SWEEP_COLUMNS = (
    ["RELEASE", "BRICKID", "BRICKNAME", "OBJID", "TYPE", "RA", "DEC", "SHAPE_R", "SHAPE_E1",
     "SHAPE_E2", "SERSIC", "MASKBITS"]
    + [f"{p}_{b}" for p in ("FLUX", "FLUX_IVAR", "MW_TRANSMISSION", "FIBERFLUX", "NOBS",
                            "PSFSIZE") for b in "GRZ"]
    + ["FLUX_W1", "FLUX_W2"]
)
DEFECT_TO_CUT = {"unreliable": "reliable", "z_nonpositive": "z_positive",
                 "z_warning": "z_warning", "low_sn": "sn_median_r",
                 "invalid_mass_ssfr": "valid_mass_ssfr"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mock_archive") / "mock"
    # rarer defects made common enough to appear in a small archive
    mock.build_mock_archive(root, n_galaxies=N_GAL, n_stars=N_STARS, n_field=N_FIELD,
                            seed=SEED, z_nonpositive_fraction=0.02)
    return root


@pytest.fixture(scope="module")
def tables(archive) -> dict:
    def read(path: Path) -> pd.DataFrame:
        table = Table.read(path)
        table.convert_bytestring_to_unicode()
        frame = table.to_pandas()
        for col in frame.columns:
            if pd.api.types.is_string_dtype(frame[col]):
                frame[col] = frame[col].str.strip()
        return frame

    galspec = read(archive / "skyserver" / "galSpec.fits")
    sweeps = sorted((archive / "dr9").glob("*/sweep/sweep-*.fits"))
    dr9 = pd.concat([read(p).assign(file=str(p)) for p in sweeps], ignore_index=True)
    return dict(
        galspec=galspec, dr9=dr9, sweeps=sweeps,
        galaxies=pd.read_parquet(archive / "truth" / "galaxies.parquet"),
        spectra=pd.read_parquet(archive / "truth" / "spectra.parquet"),
        pairs=pd.read_parquet(archive / "truth" / "pairs.parquet"),
        manifest=json.loads((archive / "manifest.json").read_text()),
    )


@pytest.fixture(scope="module")
def service(archive):
    return mock.MockCutoutService(archive)


# ------------------------------------------------------------------ catalogues


def test_galspec_is_a_skyserver_table(tables):
    g = tables["galspec"]
    assert list(g.columns) == GALSPEC_COLUMNS
    assert g["specObjID"].dtype == np.int64 and g["specObjID"].is_unique
    assert set(g["spectrotype"]) == {"GALAXY", "STAR", "QSO"}
    # specObjID packs plate, fiber and MJD the SDSS way
    sid = g["specObjID"].to_numpy()
    assert ((sid >> 50) == g["plateid"].to_numpy()).all()
    assert (((sid >> 38) & 0xFFF) == g["fiberid"].to_numpy()).all()
    assert (((sid >> 24) & 0x3FFF) + 50000 == g["mjd"].to_numpy()).all()
    # sentinels for what is missing, never NaN
    assert not g.select_dtypes("number").isna().any().any()
    stars = g[g["spectrotype"] == "STAR"]
    assert (stars["lgm_fib_p50"] == -1).all() and (stars["specsfr_fib_p50"] == -9999).all()
    ok = g[(g["spectrotype"] == "GALAXY") & (g["lgm_fib_p50"] > 0)]
    assert ok["lgm_fib_p50"].between(7.5, 11.5).all()


def test_sweeps_have_real_names_boxes_and_columns(tables):
    names = {(p.parent.parent.name, p.name) for p in tables["sweeps"]}
    assert names == {(r, n) for r in ("north", "south")
                     for n in ("sweep-150p030-160p035.fits", "sweep-160p030-170p035.fits")}
    dr9 = tables["dr9"]
    assert set(SWEEP_COLUMNS) <= set(dr9.columns)
    assert set(dr9["TYPE"]) <= {"PSF", "REX", "EXP", "DEV", "SER"}
    assert {"PSF", "REX", "EXP", "DEV", "SER"} <= set(dr9["TYPE"])
    for path, part in dr9.groupby("file"):
        ramin = int(Path(path).name[6:9])
        assert part["RA"].between(ramin, ramin + 10).all()
        assert part["DEC"].between(30, 35).all()
        region = Path(path).parent.parent.name
        assert (part["RELEASE"] == mock.RELEASE[region]).all()
    key = dr9[["RELEASE", "BRICKID", "OBJID"]]
    assert not key.duplicated().any()
    north = dr9[dr9["RELEASE"] == 9010]
    south = dr9[dr9["RELEASE"] == 9000]
    assert north["DEC"].min() > 32.375 - 0.11 and south["DEC"].max() < 32.375 + 0.11
    assert (dr9["PSFSIZE_R"].between(1.1, 1.6)).all()


def test_expected_cut_follows_injected_defects(tables):
    spectra, g, counts = tables["spectra"], tables["galspec"], tables["manifest"]["counts"]
    assert len(spectra) == len(g) and set(spectra["specObjID"]) == set(g["specObjID"])
    assert (spectra["expected_cut"] == "spectrotype").sum() == (
        counts["n_spec_stars"] + counts["n_qso"])
    gal = spectra[spectra["kind"] == "galaxy"]
    order = list(mock.CUT_ORDER)
    for _, row in gal.iterrows():
        cuts = [DEFECT_TO_CUT[d] for d in row["injected"].split(";") if d]
        want = min(cuts, key=order.index) if cuts else ""
        assert row["expected_cut"] == want, row
    # every kind of defect is present
    assert set(gal["expected_cut"]) == set(order[1:]) | {""}
    # and re-derived from the table itself, independently of the simulator's bookkeeping
    m = g.merge(spectra, on="specObjID")
    fails = [m["spectrotype"] != "GALAXY", m["reliable"] != 1, m["z"] <= 0,
             m["z_warning"] != 0, m["sn_median_r"] < 5.0,
             m["lgm_fib_p50"].isin([-1, -99, -9999]) | m["specsfr_fib_p50"].isin(
                 [-1, -99, -9999])]
    first = np.select(fails, order, default="")
    assert (first == m["expected_cut"].to_numpy()).all()


def test_repeats_primary_and_missing_counterparts(tables):
    spectra, g = tables["spectra"], tables["galspec"]
    gal = spectra[spectra["galaxy_id"] > 0]
    per = gal.groupby("galaxy_id").size()
    assert (per == 2).sum() == round(0.04 * N_GAL) and per.max() == 2
    m = gal.merge(g[["specObjID", "sn_median_r"]], on="specObjID")
    passing = m[m["expected_cut"] == ""]
    best = passing.loc[passing.groupby("galaxy_id")["sn_median_r"].idxmax(), "specObjID"]
    assert set(best) == set(m.loc[m["is_primary"], "specObjID"])
    assert not m.loc[m["expected_cut"] != "", "is_primary"].any()
    absent = tables["galaxies"].query("role == 'target' and not has_dr9")
    assert len(absent) == round(0.02 * N_GAL)
    assert (~spectra[spectra["galaxy_id"].isin(absent["galaxy_id"])]["has_dr9"]).all()
    assert tables["manifest"]["counts"]["primary_with_dr9"] == int(
        (spectra["is_primary"] & spectra["has_dr9"]).sum())


def test_pairs_are_the_only_dr9_sources_within_3_arcsec(tables):
    g, dr9, pairs, spectra = tables["galspec"], tables["dr9"], tables["pairs"], tables["spectra"]
    tree = cKDTree(unit_vectors(dr9["RA"].to_numpy(), dr9["DEC"].to_numpy()))
    chord = 2 * np.sin(np.radians(3.0 / 3600) / 2)
    near = tree.query_ball_point(unit_vectors(g["ra"].to_numpy(), g["dec"].to_numpy()), chord)
    keys = dr9[["RELEASE", "BRICKID", "OBJID"]].to_numpy()
    truth = {s: set() for s in g["specObjID"]}
    for rec in pairs.itertuples():
        truth[rec.specObjID].add((rec.RELEASE, rec.BRICKID, rec.OBJID))
    for sid, idx in zip(g["specObjID"], near, strict=True):
        assert {tuple(k) for k in keys[idx]} == truth[sid]
    # astrometric offsets of a few tenths of an arcsec; north/south duplicates exist
    assert 0.1 < pairs["sep_arcsec"].median() < 0.4 and pairs["sep_arcsec"].max() < 1.5
    dup = pairs.groupby("specObjID")["RELEASE"].agg(set)
    assert (dup.map(len) == 2).sum() > 10 and set().union(*dup) == {9000, 9010}
    assert set(spectra.loc[spectra["n_dr9"] == 2, "specObjID"]) == set(dup[dup.map(len) == 2]
                                                                       .index)


def test_dr9_types_and_photometry_follow_the_truth(tables):
    pairs, dr9, gals = tables["pairs"], tables["dr9"], tables["galaxies"]
    rec = pairs.merge(dr9, on=["RELEASE", "BRICKID", "OBJID"]).merge(
        gals, left_on="galaxy_id", right_on="galaxy_id", how="left")
    star = rec[rec["galaxy_id"] < 0]
    assert (star["TYPE"] == "PSF").all()
    gal = rec[rec["galaxy_id"] > 0]
    assert (gal.loc[gal["TYPE"] == "DEV", "sersic_n"] == 4.0).all()
    assert (gal.loc[gal["TYPE"].isin(["EXP", "REX"]), "sersic_n"] == 1.0).all()
    # measured fluxes scatter around the truth by their quoted errors
    pull = (gal["FLUX_R"] - gal["flux_r"]) * np.sqrt(gal["FLUX_IVAR_R"])
    assert 0.7 < pull.std() < 1.3 and abs(pull.mean()) < 0.2


def test_population_and_blends_in_the_archive(tables):
    gals, counts = tables["galaxies"], tables["manifest"]["counts"]
    targets = gals[gals["role"] == "target"]
    assert len(targets) == N_GAL and len(gals) == N_GAL + N_FIELD
    assert 0.08 <= targets["is_blend"].mean() <= 0.2
    assert counts["target_blend_fraction"] == pytest.approx(targets["is_blend"].mean())
    # injected companions overlap their hosts
    comp = gals[gals["role"] == "companion"]
    hosts = targets.set_index("galaxy_id").loc[comp["host_id"]]
    assert hosts["is_blend"].mean() >= 0.8
    assert (targets.loc[~targets["is_blend"], "n_overlapping"] == 0).all()
    assert (targets.loc[~targets["is_blend"], "blend_flux_ratio"] == 0).all()
    assert (targets.loc[targets["is_blend"], "blend_flux_ratio"] > 0).all()


def test_build_is_deterministic_and_rejects_bad_options(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        mock.build_mock_archive(root, n_galaxies=40, n_stars=10, n_field=60, seed=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) >= 9
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    with pytest.raises(ValueError, match="denisty_per_deg2"):
        mock.build_mock_archive(tmp_path / "c", 40, 10, 60, 3, denisty_per_deg2=1.0)
    with pytest.raises(ValueError, match="mock.n_galaxies"):
        mock.build_mock_archive(tmp_path / "c", 0, 10, 60, 3)
    with pytest.raises(ValueError, match="'seed'"):
        mock.build_mock_archive(tmp_path / "c", 40, 10, 60, -1)
    with pytest.raises(OSError, match="universe.parquet"):
        mock.MockCutoutService(tmp_path / "c")
    # a rebuild elsewhere on the sky leaves no sweep file of the old geometry behind
    mock.build_mock_archive(a, 40, 10, 60, 3, patch_center=(201.0, 32.375))
    assert sorted(p.name for p in a.glob("dr9/*/sweep/*.fits")) == [
        "sweep-200p030-210p035.fits"] * 2


# ------------------------------------------------------------------ cutouts


def _targets(tables, n: int, isolated: bool | None = None) -> pd.DataFrame:
    t = tables["galaxies"].query("role == 'target' and has_dr9")
    if isolated is not None:
        t = t[t["is_blend"] != isolated]
    return t.iloc[:n]


def test_cutout_is_the_legacy_survey_fits(service, tables):
    t = _targets(tables, 1).iloc[0]
    raw = service.fits_bytes(t["ra"], t["dec"])
    assert raw == service.fits_bytes(t["ra"], t["dec"])  # byte-identical on repeat
    assert raw == mock.MockCutoutService(service.root).fits_bytes(t["ra"], t["dec"])
    assert raw != service.fits_bytes(t["ra"] + 1e-4, t["dec"])
    assert len(raw) % 2880 == 0
    with fits.open(io.BytesIO(raw)) as hdul:
        assert len(hdul) == 1
        hdu = hdul[0]
        assert hdu.data.shape == (3, 152, 152) and hdu.data.dtype == np.dtype(">f4")
        h = hdu.header
        assert (h["BANDS"], h["BAND0"], h["BAND1"], h["BAND2"]) == ("grz", "g", "r", "z")
        assert (h["CTYPE1"], h["CTYPE2"]) == ("RA---TAN", "DEC--TAN")
        assert h["CRPIX1"] == h["CRPIX2"] == 76.5
        assert (h["CRVAL1"], h["CRVAL2"]) == (t["ra"], t["dec"])
        wcs = WCS(h, naxis=2)
        assert proj_plane_pixel_scales(wcs) * 3600 == pytest.approx([0.262, 0.262], rel=1e-12)
        assert wcs.wcs.cd[0, 0] < 0 < wcs.wcs.cd[1, 1]  # East to the left
        # the target sits at the reference pixel (true position ~0.1 arcsec away)
        target = service.truth_maps(t["ra"], t["dec"])[0]
        y, x = np.unravel_index(np.argmax(target), target.shape)
        assert abs(x + 1 - 76.5) <= 1 and abs(y + 1 - 76.5) <= 1
        data = hdu.data.astype(np.float32)
    single = fits.open(io.BytesIO(service.fits_bytes(t["ra"], t["dec"], bands="r")))[0]
    assert single.header["BANDS"] == "r" and single.data.shape == (1, 152, 152)
    assert np.array_equal(single.data[0], data[1])
    for bad in (dict(size=600), dict(bands="gri"), dict(layer="ls-dr10"), dict(pixscale=0)):
        with pytest.raises(ValueError):
            service.fits_bytes(t["ra"], t["dec"], **bad)


def test_noise_in_empty_sky_matches_the_depths(service):
    sigma = service.pixel_sigma
    assert sigma["r"] == pytest.approx(0.0117, rel=0.02)  # r = 23.4 at 1.3" seeing
    rng = np.random.default_rng(0)
    ra0, dec0 = service.settings.patch_center
    found = 0
    for _ in range(20):
        ra = ra0 + rng.uniform(-0.05, 0.05)
        dec = dec0 + rng.uniform(-0.05, 0.05)
        target, contaminant, _ = service.truth_maps(ra, dec, size=96)
        empty = (target + contaminant) < 0.01 * sigma["g"]
        if empty.sum() < 2000:
            continue
        cube = service.cube(ra, dec, size=96)
        for k, b in enumerate("grz"):
            assert cube[k][empty].std() == pytest.approx(sigma[b], rel=0.10)
            assert abs(cube[k][empty].mean()) < 0.1 * sigma[b]
        found += 1
        if found == 2:
            break
    assert found == 2


def test_target_flux_in_the_image_matches_the_catalogue(service, tables):
    t = _targets(tables, 60, isolated=True)
    t = t[t["r_e_arcsec"] < 2.0].iloc[:6]
    assert len(t) == 6
    total_sigma = np.sqrt(sum(s**2 for s in service.pixel_sigma.values()))
    for _, row in t.iterrows():
        cat = row["flux_g"] + row["flux_r"] + row["flux_z"]
        target, contaminant, scal = service.truth_maps(row["ra"], row["dec"])
        assert scal["target_id"] == row["galaxy_id"]
        assert scal["is_blend"] == bool(row["is_blend"])
        assert target.sum() == pytest.approx(cat, rel=0.01)
        cube = service.cube(row["ra"], row["dec"])
        measured = cube.sum() - contaminant.sum()
        assert abs(measured - cat) < 0.02 * cat + 4 * 152 * total_sigma
        # the image is exactly truth + noise of the configured level
        resid = cube.sum(axis=0) - target - contaminant
        assert resid.std() == pytest.approx(total_sigma, rel=0.05)


def test_truth_maps_see_the_blends(service, tables):
    frac = {}
    for blended in (True, False):
        t = _targets(tables, 25, isolated=not blended)
        vals = []
        for _, row in t.iterrows():
            target, _, scal = service.truth_maps(row["ra"], row["dec"])
            assert scal["is_blend"] == blended
            vals.append(scal["contaminant_flux_in_isophote"] / max(target.sum(), 1e-9))
        frac[blended] = np.mean(np.array(vals) > 1e-3)
    # a blend puts neighbour light inside the target's isophote; isolated targets rarely
    assert frac[True] >= 0.9 and frac[False] <= 0.3, frac


def test_overview_figure(archive, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from figure_checks import capture, outside, overlapping

    from galstar.mock.figures import plot_mock_overview

    out = tmp_path / "overview.png"
    kept = capture(monkeypatch)
    plot_mock_overview(archive, out, n_cutouts=4, seed=1)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000
    (fig,) = kept
    assert overlapping(fig) == [] and outside(fig) == []  # the sky panel's title included
    sky = next(ax for ax in fig.axes if ax.get_xlabel() == "RA [deg]")
    fig.canvas.draw()
    assert sky.xaxis.get_offset_text().get_text() == ""  # degrees, not "+1.6e2"
    stamps = [ax for ax in fig.axes if ax.images]
    assert len(stamps) == 4
    # cutouts shown bright enough to see the target: its core well above the sky
    for ax in stamps:
        rgb = np.asarray(ax.images[0].get_array())
        core = rgb[70:82, 70:82].mean()
        assert core > 0.3 and core > 2 * np.median(rgb), core
