"""Shard-level preprocessing: every object gets a row, rows index the tensor, rejects
carry their reason, outputs are written; variants and summaries from those files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout
from galstar.imaging.shard import _chunk_bounds, preprocess_shard
from galstar.imaging.stage import run_preprocess_shard, run_variant
from galstar.imaging.summary import reject_counts, write_steps_figure
from galstar.io import load_npy, read_parquet, write_parquet

N = 152
YY, XX = np.mgrid[:N, :N].astype(np.float64)


def galaxy_cube(x0, y0, sigma, flux, seed):
    rng = np.random.default_rng(seed)
    img = flux * np.exp(-0.5 * ((XX - x0) ** 2 + (YY - y0) ** 2) / sigma**2)
    cube = np.array([0.6, 1.0, 1.3])[:, None, None] * img + rng.normal(0, 0.005, (3, N, N))
    return cube.astype(np.float32)


@pytest.fixture()
def shard(tmp_path):
    cubes = {
        101: galaxy_cube(75.5, 75.5, 3.0, 2.0, 1),       # kept
        102: galaxy_cube(120.0, 30.0, 3.0, 2.0, 2),      # off-centre only
        103: galaxy_cube(75.0, 76.0, 4.0, 1.0, 3),       # kept
        104: galaxy_cube(75.5, 75.5, 15.0, 2.0, 4),      # too large
    }
    cubes[105] = cubes[101].copy()
    cubes[105][1, 10, 10] = np.nan                       # bad pixels
    rows = []
    for oid, cube in cubes.items():
        path = tmp_path / f"{oid}.fits"
        fits.PrimaryHDU(cube).writeto(path)
        rows.append({"object_id": oid, "ra": 1.0, "dec": 2.0, "path": str(path),
                     "status": "ok", "reject_reason": None})
    (tmp_path / "107.fits").write_bytes(b"<html>not a FITS</html>")
    rows.append({"object_id": 106, "ra": 1.0, "dec": 2.0, "path": "", "status": "failed",
                 "reject_reason": "http_404"})
    rows.append({"object_id": 107, "ra": 1.0, "dec": 2.0, "path": str(tmp_path / "107.fits"),
                 "status": "ok", "reject_reason": None})
    rows.append({"object_id": 109, "ra": 1.0, "dec": 2.0, "path": "", "status": "failed",
                 "reject_reason": None})
    manifest = pd.DataFrame(rows)
    ids = [101, 102, 103, 104, 105, 106, 107, 108, 109]  # 108 has no manifest row
    catalog = pd.DataFrame({
        "object_id": ids, "split": ["train", "val", "test"] * 3,
        "lgm_fib_p50": np.linspace(9, 11, 9), "specsfr_fib_p50": np.linspace(-12, -9, 9),
        "z": np.linspace(0.05, 0.2, 9), "TYPE": ["EXP"] * 9, "SHAPE_R": np.ones(9),
        "FLUX_G": np.ones(9), "FLUX_R": np.ones(9), "FLUX_Z": np.ones(9),
        "unused": np.zeros(9),
    })
    return manifest, catalog, cubes


EXPECTED = {101: None, 102: "no_center_source", 103: None, 104: "too_large",
            105: "bad_pixels", 106: "http_404", 107: "unreadable_cutout", 108: "missing_cutout",
            109: "download_failed"}


def check_table(table, tensor, cubes):
    assert list(table["object_id"]) == list(EXPECTED)
    reasons = [None if pd.isna(r) else r for r in table["reject_reason"]]
    assert dict(zip(table["object_id"], reasons, strict=True)) == EXPECTED
    kept = table[table["kept"]]
    assert list(kept["object_id"]) == [101, 103] and list(kept["row"]) == [0, 1]
    assert (table.loc[~table["kept"], "row"] == -1).all()
    assert tensor.shape == (2, 64, 64, 3) and tensor.dtype == np.float32
    for oid, row in zip(kept["object_id"], kept["row"], strict=True):
        np.testing.assert_array_equal(tensor[row], preprocess_cutout(cubes[oid]).image)
    r101 = table.set_index("object_id").loc[101]
    assert r101["radius_arcsec"] == pytest.approx(r101["radius_px"] * 0.262)
    assert math.isnan(table.set_index("object_id").loc[106, "ellipse_a"])
    for col in ("split", "lgm_fib_p50", "specsfr_fib_p50", "z", "TYPE", "SHAPE_R", "FLUX_G",
                "ellipse_x", "ellipse_angle", "blended"):
        assert col in table.columns
    assert "unused" not in table.columns


def test_preprocess_shard_in_process(shard):
    manifest, catalog, cubes = shard
    table, tensor = preprocess_shard(manifest, catalog, PreprocessConfig(), threads=1)
    check_table(table, tensor, cubes)


def test_tasks_shrink_towards_the_end_of_the_shard():
    for n, workers in ((500, 2), (500, 8), (33, 2), (1, 4)):
        bounds = _chunk_bounds(n, workers, 32)
        sizes = np.diff(bounds)
        assert bounds[0] == 0 and bounds[-1] == n and (sizes >= 1).all()
        assert sizes.max() <= 32 and (np.diff(sizes) <= 0).all()
        assert sizes[-1] == 1  # the last tasks take one cutout each
    assert np.diff(_chunk_bounds(500, 2, 32))[:8].tolist() == [32] * 8


def test_preprocess_shard_files_and_processes(shard, tmp_path):
    manifest, catalog, cubes = shard
    # Two worker processes, chunks of 32: pad the shard so the pool is used.
    extra_ids = list(range(1000, 1040))
    extra_man = pd.DataFrame({"object_id": extra_ids, "ra": 1.0, "dec": 2.0,
                              "path": manifest.loc[0, "path"], "status": "ok",
                              "reject_reason": None})
    extra_cat = pd.concat([catalog.iloc[[0]]] * 40, ignore_index=True)
    extra_cat["object_id"] = extra_ids
    write_parquet(pd.concat([manifest, extra_man], ignore_index=True), tmp_path / "m.parquet")
    write_parquet(pd.concat([catalog, extra_cat], ignore_index=True), tmp_path / "c.parquet")
    run_preprocess_shard(tmp_path / "m.parquet", tmp_path / "c.parquet",
                         tmp_path / "out" / "t.parquet", tmp_path / "out" / "grz.npy",
                         {"ellipse_scale": 1.5, "pixscale": 0.262}, threads=2)
    table = read_parquet(tmp_path / "out" / "t.parquet")
    tensor = load_npy(tmp_path / "out" / "grz.npy")
    check_table(table[table["object_id"] < 1000], tensor[:2], cubes)
    assert tensor.shape[0] == 42 and table["kept"].sum() == 42
    np.testing.assert_array_equal(tensor[2], tensor[0])  # same file, same image
    run_variant(tmp_path / "out" / "grz.npy", tmp_path / "out" / "g16.npy", "g", 16)
    g16 = load_npy(tmp_path / "out" / "g16.npy")
    assert g16.shape == (42, 16, 16, 3)
    np.testing.assert_array_equal(g16[..., 0], g16[..., 2])
    counts = reject_counts([table])
    assert counts.iloc[0]["reason"] == "kept" and counts.iloc[0]["count"] == 42
    assert counts["count"].sum() == len(table)
    assert set(counts["reason"]) == {"kept"} | {r for r in EXPECTED.values() if r}
    ids = write_steps_figure([tmp_path / "m.parquet"], PreprocessConfig(),
                             tmp_path / "out" / "steps.png", n_objects=3, seed=1)
    assert len(ids) == 3 and (tmp_path / "out" / "steps.png").stat().st_size > 10_000


def test_preprocess_shard_rejects_bad_tables(shard):
    manifest, catalog, _ = shard
    with pytest.raises(ValueError, match="path"):
        preprocess_shard(manifest.drop(columns="path"), catalog, PreprocessConfig())
    with pytest.raises(ValueError, match="repeats"):
        preprocess_shard(manifest, pd.concat([catalog, catalog]), PreprocessConfig())


@pytest.mark.parametrize("threads", [1, 2])
def test_preprocess_shard_with_catalogue_neighbours(shard, threads):
    manifest, catalog, cubes = shard
    # a bright neighbour 2" east of 103 (not in its image: the catalogue pass alone
    # sees it); 101 has a far, faint one; the others none
    neighbours = pd.DataFrame({
        "object_id": [101, 103], "dx_arcsec": [30.0, 2.0], "dy_arcsec": [0.0, 0.0],
        "TYPE": ["PSF", "PSF"], "FLUX_G": [0.1, 20.0], "FLUX_R": [0.1, 20.0],
        "FLUX_Z": [0.1, 20.0], "SHAPE_R": [0.0, 0.0], "SHAPE_E1": [0.0, 0.0],
        "SHAPE_E2": [0.0, 0.0], "SERSIC": [0.0, 0.0], "PSFSIZE_G": [1.3, 1.3],
        "PSFSIZE_R": [1.3, 1.3], "PSFSIZE_Z": [1.3, 1.3],
    })
    config = PreprocessConfig.from_mapping({"blend": {"catalog_contamination_max": 0.09}})
    table, tensor = preprocess_shard(manifest, catalog, config, threads=threads,
                                     neighbours=neighbours)
    by_id = table.set_index("object_id")
    assert by_id.loc[103, "reject_reason"] == "blended_catalog"
    assert by_id.loc[101, "reject_reason"] is None or pd.isna(by_id.loc[101, "reject_reason"])
    assert by_id.loc[101, "catalog_contamination"] == pytest.approx(0.0, abs=1e-3)
    assert math.isnan(by_id.loc[106, "catalog_contamination"])
    assert tensor.shape[0] == 1
    # without the table (or with the pass off) nothing changes
    plain, _ = preprocess_shard(manifest, catalog, config, threads=threads)
    assert plain.set_index("object_id").loc[103, "reject_reason"] is None or pd.isna(
        plain.set_index("object_id").loc[103, "reject_reason"])
    assert plain["catalog_contamination"].isna().all()
