"""Integration: the SDSS rules (sdss.smk) through Snakemake on a tiny mock archive.

Mock archive -> mock SDSS spectra, DR7 files and ugriz cutouts -> cross-match ->
per-shard acquisition -> spectrum grid and image stretch -> the joined table. Checks
the multimodal data contract: one row per catalogue object in order, tensor shapes and
dtypes, each tensor row traced back to its file and its galaxy (the spectrum file's z is
the catalogue z, the DR7 statistics are those of the spectrum's plate-mjd-fiber in the
FITS files), and that a spectrum-grid change reruns the spectrum side only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import fits

from galstar.catalog.sdss import SFR_COLUMNS
from galstar.imaging.sdss import SDSS_SOFTENING_NMGY, stretch_ugriz
from galstar.spectra.sdss import read_spectrum
from galstar.spectra.sdss_grid import DEFAULT_SDSS_GRID, SdssGridSettings, to_grid

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SHARDS = ["shard-000", "shard-001"]
N_IMAGES = 200
TARGETS = [
    *(f"results/galaxies/sdss/{s}.parquet" for s in SHARDS),
    *(f"results/galaxies/sdss/spectra/{s}.npy" for s in SHARDS),
    *(f"results/galaxies/sdss/images/{s}.npy" for s in SHARDS),
    *(f"results/galaxies/sdss/image_sample/{s}.parquet" for s in SHARDS),
    "results/galaxies/sdss/spectra/grid.json",
    "results/galaxies/sdss/reject_counts.csv",
]
MOCK = "resources/archive/mock"
DR7 = f"{MOCK}/mpa/SDSS/DR7/Data"


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=len(SHARDS), methods=["sigma_sfr"])
    config["mock"].update(n_galaxies=300, n_field=300, n_stars=30)
    # fewer cutouts than galaxies (no_image rejects) and more dead fibres (bad_spectrum)
    config["mock"]["sdss"] = {"n_spectra": None, "n_images": N_IMAGES,
                              "bad_spectrum_fraction": 0.05}
    return config


def _run(repo: Path, workdir: Path, *args: str, configs: tuple[str, ...] = ("config.yaml",)
         ) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile",
         *(str(workdir / c) for c in configs), "--directory", str(workdir), "--cores", "2",
         *args, *TARGETS],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sdss_workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo), sort_keys=False))
    _run(repo, workdir)
    return workdir


def _shard(workdir: Path, shard: str):
    return (pd.read_parquet(workdir / f"results/galaxies/catalog/shards/{shard}.parquet"),
            pd.read_parquet(workdir / f"results/galaxies/sdss/{shard}.parquet"),
            np.load(workdir / f"results/galaxies/sdss/spectra/{shard}.npy"),
            np.load(workdir / f"results/galaxies/sdss/images/{shard}.npy"))


def test_every_catalogue_object_once_with_tensor_rows(run):
    n_kept = 0
    for shard in SHARDS:
        catalog, table, spectra, images = _shard(run, shard)
        assert table["object_id"].tolist() == catalog["object_id"].tolist()
        assert spectra.dtype == np.float32 and spectra.shape[1:] == (4620, 2)
        assert images.dtype == np.float32 and images.shape[1:] == (64, 64, 5)
        for col, tensor in (("spectrum_row", spectra), ("image_row", images)):
            rows = table.loc[table[col] >= 0, col].to_numpy()
            assert sorted(rows) == list(range(len(tensor))), col
        assert set(np.unique(spectra[..., 1])) <= {0.0, 1.0}
        kept = table["kept"]
        assert (table.loc[kept, "reject_reason"] == "").all()
        assert ((table["spectrum_row"] >= 0) & (table["image_row"] >= 0)
                & np.isfinite(table[["z", *SFR_COLUMNS]]).all(axis=1)).equals(kept)
        assert set(table.loc[~kept, "reject_reason"]) <= {
            "no_spectrum", "unreadable_spectrum", "bad_spectrum", "no_image", "bad_image",
            "no_sfr_stats"}
        n_kept += int(kept.sum())
    assert n_kept > 100
    counts = pd.read_csv(run / "results/galaxies/sdss/reject_counts.csv")
    assert counts["reason"].iat[0] == "kept" and counts["count"].iat[0] == n_kept
    tables = pd.concat([_shard(run, s)[1] for s in SHARDS])
    assert dict(zip(counts["reason"], counts["count"], strict=True)) == (
        tables["reject_reason"].replace("", "kept").value_counts().to_dict())


def test_spectrum_rows_come_from_the_galaxys_file(run):
    settings = SdssGridSettings()
    for shard in SHARDS:
        catalog, table, spectra, _ = _shard(run, shard)
        has = table[table["spectrum_row"] >= 0]
        for i, row in enumerate(has.itertuples()):
            spectrum = read_spectrum(run / row.spectrum_source)
            cat = catalog.iloc[row.Index]
            assert (spectrum.plate, spectrum.mjd, spectrum.fiber) == (
                cat["plateid"], cat["mjd"], cat["fiberid"])
            assert spectrum.z == pytest.approx(cat["z"], abs=1e-6)  # float32 in the file
            if i % 10 == 0:
                flux, _, mask = to_grid(spectrum, DEFAULT_SDSS_GRID, settings)
                np.testing.assert_array_equal(spectra[row.spectrum_row, :, 0], flux)
                np.testing.assert_array_equal(spectra[row.spectrum_row, :, 1], mask)


def test_dr7_statistics_are_those_of_the_spectrum(run):
    with fits.open(run / DR7 / "gal_info_dr7_v5_2.fits") as a, \
            fits.open(run / DR7 / "gal_totsfr_dr7_v5_2.fits") as b:
        key = zip(a[1].data["PLATEID"], a[1].data["MJD"], a[1].data["FIBERID"], strict=True)
        index = {tuple(map(int, k)): i for i, k in enumerate(key)}
        sfr = {c: np.asarray(b[1].data[c.removeprefix("sfr_tot_").upper()], float)
               for c in SFR_COLUMNS}
    for shard in SHARDS:
        catalog, table, _, _ = _shard(run, shard)
        kept = table[table["kept"]]
        for row in kept.itertuples():
            i = index[(row.plateid, row.mjd, row.fiberid)]
            for col in SFR_COLUMNS:
                assert getattr(row, col) == pytest.approx(sfr[col][i], rel=1e-6), col
        # and MEDIAN is the catalogue's own (SkyServer) p50 of the same galaxy
        p50 = catalog.loc[table["kept"], "sfr_tot_p50"].to_numpy(float)
        np.testing.assert_allclose(kept["sfr_tot_median"], p50, rtol=1e-6, atol=1e-6)


def test_image_rows_are_the_mocks_cutouts_and_missing_ones_are_recorded(run):
    rendered = {int(p.stem) for p in (run / MOCK / "sdss_images").glob("*.fits")}
    assert len(rendered) == N_IMAGES
    soft = np.array(SDSS_SOFTENING_NMGY, np.float32)
    truth = pd.read_parquet(run / MOCK / "truth/sdss_spectra.parquet")
    dead = set(truth.loc[truth["bad_spectrum"] == "dead_fibre", "specObjID"])
    n_dead = 0
    for shard in SHARDS:
        _, table, _, images = _shard(run, shard)
        in_archive = table["specobjid"].isin(rendered)
        assert (table.loc[~in_archive, "image_row"] == -1).all()
        assert (table.loc[in_archive, "image_row"] >= 0).all()
        first = ~in_archive & (table["reject_reason"] == "no_image")
        assert table.loc[first, "reject_detail"].str.startswith("not_in_archive").all()
        for row in table[table["image_row"] >= 0].iloc[::15].itertuples():
            src = run / MOCK / "sdss_images" / f"{row.specobjid}.fits"
            assert (run / row.image_source).read_bytes() == src.read_bytes()
            np.testing.assert_allclose(images[row.image_row],
                                       stretch_ugriz(fits.getdata(src), soft), rtol=1e-6)
        is_dead = table["specobjid"].isin(dead)
        assert (table.loc[is_dead, "reject_reason"] == "bad_spectrum").all()
        assert table.loc[is_dead, "reject_detail"].str.startswith("all_masked").all()
        n_dead += int(is_dead.sum())
    assert n_dead >= 1


def test_image_sample_keeps_objects_whatever_their_spectrum(run):
    for shard in SHARDS:
        table = pd.read_parquet(run / f"results/galaxies/sdss/{shard}.parquet")
        sample = pd.read_parquet(run / f"results/galaxies/sdss/image_sample/{shard}.parquet")
        assert sample["object_id"].tolist() == table["object_id"].tolist()
        assert (sample["image_row"] == table["image_row"]).all()
        assert (sample["spectrum_row"] == -1).all()
        spectral = table["reject_reason"].isin(["no_spectrum", "unreadable_spectrum",
                                                "bad_spectrum"])
        # kept = the joint sample plus the objects lost to their spectrum alone that
        # have an image and finite targets
        targets = table[["z", *SFR_COLUMNS]].notna().all(axis=1)
        expected = table["kept"] | (spectral & (table["image_row"] >= 0) & targets)
        assert sample["kept"].tolist() == expected.tolist()
        assert (sample["reject_reason"] == "")[sample["kept"]].all()


def _planned(repo: Path, workdir: Path, extra: dict) -> set[str]:
    (workdir / "change.yaml").write_text(yaml.safe_dump(extra))
    out = _run(repo, workdir, "-n", configs=("config.yaml", "change.yaml"))
    return set(re.findall(r"^(?:local)?rule (\w+):", out, flags=re.MULTILINE))


def test_grid_change_reruns_spectra_only_and_image_change_images_only(run, repo):
    assert _planned(repo, run, {}) == set()
    grid = {"galaxies": {"sdss": {"spectra": {"grid": {"n_pixels": 2000}}}}}
    assert _planned(repo, run, grid) == {"sdss_spectra", "sdss_spectra_grid", "sdss_table",
                                             "sdss_summary"}
    stretch = {"galaxies": {"sdss": {"images": {"softening_nmgy": [1, 1, 1, 1, 1]}}}}
    assert _planned(repo, run, stretch) == {"sdss_images", "sdss_table", "sdss_image_sample",
                                            "sdss_summary"}
