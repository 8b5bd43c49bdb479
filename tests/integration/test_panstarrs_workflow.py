"""Integration: the spectra_from_images data rules (panstarrs.smk) through Snakemake on a
tiny mock archive.

Mock archive -> mock SDSS spectra and PS1 cutouts -> cross-match -> per-shard PS1
acquisition and image stretch, rest-frame spectra, gap filler on the training split ->
the per-shard contract files. Checks the exact kept and reject counts against what the
mock archive holds (its PS1 listings, its spectrum files' redshifts), and that images,
spectra and truth rows belong to the table's galaxy, row by row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from galstar import paths
from galstar.archives.panstarrs import parse_listing, read_ps1_cutouts
from galstar.imaging.ps1 import PS1_SOFTENING_NMGY, stretch_grizy
from galstar.spectra.restframe import RestframeSettings, to_restframe
from galstar.spectra.sdss import read_spectrum

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SHARDS = ["shard-000", "shard-001"]
SIZE = 32
Z_MAX = 0.15  # below the demo's 0.36 so that the tiny mock has z rejects
PER_SHARD = (paths.SFI_TABLE, paths.SFI_IMAGES, paths.SFI_SPECTRA, paths.SFI_TRUTH,
             paths.SFI_REJECTS)
TARGETS = [*(paths.fill(p, shard=s) for p in PER_SHARD for s in SHARDS), paths.SFI_GRID,
           paths.SFI_REJECT_COUNTS]
MOCK = Path("resources/archive/mock")


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=len(SHARDS), methods=["sigma_sfr"])
    config["mock"].update(n_galaxies=300, n_field=300, n_stars=30)
    # fewer spectra and PS1 cutouts than galaxies: no_spectrum and missing_band rejects
    config["mock"]["sdss"] = {"n_spectra": 250, "n_images": 0, "bad_spectrum_fraction": 0.05}
    config["mock"]["panstarrs"] = {"n_images": 200, "missing_band_fraction": 0.1}
    data = config.setdefault("spectra_from_images", {}).setdefault("data", {})
    data["panstarrs"] = {"size": SIZE}
    data["restframe"] = {"z_max": Z_MAX, "n_components": 5, "n_iter": 3}
    return config


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("panstarrs_workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo), sort_keys=False))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile",
         str(workdir / "config.yaml"), "--directory", str(workdir), "--cores", "2",
         *TARGETS], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return workdir


def _mock_listings(workdir: Path) -> dict[int, str]:
    index = pd.read_parquet(workdir / MOCK / "ps1/index.parquet")
    return {int(s): "".join(b for b, _ in parse_listing(t.encode()))
            for s, t in zip(index["specObjID"], index["listing"], strict=True)}


def _expected_codes(workdir: Path, shard: str) -> pd.Series:
    """Each catalogue object's outcome from the mock archive itself (its spectrum files
    and their Z, its PS1 listings); low_coverage is left to the truth check."""
    catalog = pd.read_parquet(workdir / paths.fill(paths.CATALOG_SHARD, shard=shard))
    spectra = pd.read_parquet(workdir / f"resources/mock/sdss/spectra/{shard}.parquet")
    listed = _mock_listings(workdir)
    codes = []
    for obj, spec in zip(catalog["object_id"], catalog["specObjID"], strict=True):
        row = spectra[spectra["object_id"] == obj].iloc[0]
        if row["status"] != "ok":
            codes.append("no_spectrum")
            continue
        z = read_spectrum(workdir / row["path"]).z
        if not 0 < z < Z_MAX:
            codes.append("z_out_of_range")
        elif int(spec) not in listed:  # not rendered: an empty listing
            codes.append("no_stack")
        elif len(listed[int(spec)]) < 5:
            codes.append("missing_band")
        else:
            codes.append("kept_or_low_coverage")
    return pd.Series(codes, index=catalog["object_id"].to_numpy())


def test_exact_kept_and_reject_counts(run):
    truth = pd.read_parquet(run / MOCK / "truth/sdss_spectra.parquet")
    bad = dict(zip(truth["specObjID"], truth["bad_spectrum"], strict=True))
    totals: dict[str, int] = {}
    for shard in SHARDS:
        expected = _expected_codes(run, shard)
        table = pd.read_parquet(run / paths.fill(paths.SFI_TABLE, shard=shard))
        rejects = pd.read_parquet(run / paths.fill(paths.SFI_REJECTS, shard=shard))
        got = pd.concat([pd.Series("kept", index=table["object_id"].to_numpy()),
                         pd.Series(rejects["code"].to_numpy(),
                                   index=rejects["object_id"].to_numpy())])
        assert sorted(got.index) == sorted(expected.index)  # every object exactly once
        got = got.loc[expected.index]
        for code in ("no_spectrum", "z_out_of_range", "no_stack", "missing_band"):
            assert (got == code).equals(expected == code), (shard, code)
        rest = got[expected == "kept_or_low_coverage"]
        assert set(rest) <= {"kept", "low_coverage"}
        # a low-coverage reject is a simulated dead fibre or missing camera, nothing else
        spec = pd.read_parquet(run / paths.fill(paths.CATALOG_SHARD, shard=shard)).set_index(
            "object_id")["specObjID"]
        assert all(bad[int(spec[o])] != "" for o in rest.index[rest == "low_coverage"])
        assert all(r.startswith(f"{c}: ") and not r.startswith(f"{c}: {c}")
                   for c, r in zip(rejects["code"], rejects["reason"], strict=True))
        missing = rejects[rejects["code"] == "missing_band"]
        assert missing["reason"].str.contains(r"missing_band: [grizy](?:,[grizy])* ").all()
        for code, n in got.value_counts().items():
            totals[code] = totals.get(code, 0) + int(n)
    assert totals["kept"] > 60 and totals["missing_band"] >= 5 and totals["no_stack"] >= 20
    assert totals["no_spectrum"] >= 10 and totals["z_out_of_range"] >= 5
    counts = pd.read_csv(run / paths.SFI_REJECT_COUNTS)
    assert counts["reason"].iat[0] == "kept"
    assert dict(zip(counts["reason"], counts["count"], strict=True)) == totals


def test_images_spectra_and_truth_align_row_by_row(run):
    settings = RestframeSettings(z_max=Z_MAX)
    soft = np.asarray(PS1_SOFTENING_NMGY, np.float32)
    listed = _mock_listings(run)
    for shard in SHARDS:
        fill = lambda t, s=shard: run / paths.fill(t, shard=s)  # noqa: E731
        table = pd.read_parquet(fill(paths.SFI_TABLE))
        catalog = pd.read_parquet(fill(paths.CATALOG_SHARD)).set_index("object_id")
        images, spectra = np.load(fill(paths.SFI_IMAGES)), np.load(fill(paths.SFI_SPECTRA))
        truth = np.load(fill(paths.SFI_TRUTH))
        n = len(table)
        assert images.shape == (n, 5, SIZE, SIZE) and images.dtype == np.float32
        assert spectra.shape == (n, 2, 1000) and spectra.dtype == np.float32
        assert truth.shape == (n, 1000) and truth.dtype == np.float32
        assert (table["split"].to_numpy() == catalog.loc[table["object_id"], "split"]).all()
        assert (table["shard"].to_numpy() == catalog.loc[table["object_id"], "shard"]).all()
        assert table["has_truth"].all() and np.isfinite(truth).all()  # the whole grid
        manifest = pd.read_parquet(run / f"resources/mock/sdss/spectra/{shard}.parquet"
                                   ).set_index("object_id")
        for i, row in enumerate(table.itertuples()):
            # the image: the galaxy's own PS1 files, stretched, in g, r, i, z, y
            folder = run / MOCK / "ps1" / str(row.specobjid)
            assert row.listed == listed[row.specobjid]
            cube = read_ps1_cutouts(sorted(folder.glob("*.fits")))
            assert np.array_equal(images[i], stretch_grizy(cube, soft))
            # the spectrum: its own file, on the rest-frame grid; filled pixels weight 0
            spectrum = read_spectrum(run / manifest.loc[row.object_id, "path"])
            assert spectrum.z == pytest.approx(row.z) and int(spectrum.specobj_id) == row.specobjid
            flux, ivar, mask, norm = to_restframe(spectrum, settings)
            assert norm == pytest.approx(row.norm)
            assert np.array_equal(spectra[i, 1], ivar)
            assert np.array_equal(spectra[i, 0, ~mask], flux[~mask])
            assert np.isfinite(spectra[i, 0]).all()
            # the truth: the same galaxy's noiseless spectrum on the same grid and scale
            ok = ~mask
            chi = (flux[ok] - truth[i, ok]) * np.sqrt(ivar[ok])
            assert abs(np.median(chi)) < 0.5 and 1.4826 * np.median(np.abs(chi)) < 1.6


def test_gap_filler_is_fitted_on_the_training_split_only(run):
    grid = json.loads((run / paths.SFI_GRID).read_text())
    assert (grid["loglam_start"], grid["loglam_stop"], grid["n_pixels"]) == (3.53, 3.92, 1000)
    n_train = 0
    for shard in SHARDS:
        rest = pd.read_parquet(run / paths.fill(paths.SFI_RESTFRAME_TABLE, shard=shard))
        cat = pd.read_parquet(run / paths.fill(paths.CATALOG_SHARD, shard=shard))
        split = rest["object_id"].map(dict(zip(cat["object_id"], cat["split"], strict=True)))
        n_train += int(((split == "train") & (rest["restframe_row"] >= 0)).sum())
    assert grid["gap_filling"]["fitted_on"] == "train" and grid["n_fit_spectra"] == n_train
