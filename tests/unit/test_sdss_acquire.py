"""Stage 1 for SDSS on the mock: per-shard manifests in catalogue order, files the mock
does not hold recorded as the live service would answer (http_404, not_in_archive),
a valid cache reused (attempts 0) and a corrupted cached file fetched again; the DR7
table; the live branch names its missing config key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.archives.sdss_acquire import acquire_dr7, acquire_sdss_images, acquire_sdss_spectra
from galstar.io import write_parquet
from galstar.mock import build_mock_archive
from galstar.mock.sdss_images import build_sdss_images
from galstar.mock.sdss_spectra import build_sdss_spectra
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.mock.sources import fetch_dr7, sdss_images_fetcher, sdss_spectra_fetcher

N_SPECTRA, N_IMAGES = 25, 6


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdss_acquire") / "mock"
    build_mock_archive(root, 120, 40, 200, 11)
    build_sdss_spectra(root, n_spectra=N_SPECTRA)
    build_sdss_images(root, n_images=N_IMAGES)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    galaxies = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID")
    # a "catalogue shard": 40 galaxies in reverse specObjID order, so the first written
    # products are at its end
    shard = galaxies.iloc[:40].iloc[::-1].reset_index(drop=True)
    shard.insert(0, "object_id", np.arange(len(shard), dtype=np.int64) + 10**15)
    path = root.parent / "shard-000.parquet"
    write_parquet(shard, path)
    return root, path, shard


def test_spectra_manifest_in_order_with_missing_files_as_404(archive, tmp_path):
    root, shard_path, shard = archive
    out = tmp_path / "sdss/spectra/shard-000.parquet"
    fetch = sdss_spectra_fetcher("mock", mock_root=root)
    manifest = acquire_sdss_spectra(shard_path, out, fetch)
    assert manifest["object_id"].tolist() == shard["object_id"].tolist()
    assert pd.read_parquet(out)["object_id"].tolist() == shard["object_id"].tolist()
    ok = manifest["status"] == "ok"
    assert ok.tolist() == [False] * (40 - N_SPECTRA) + [True] * N_SPECTRA
    assert set(manifest.loc[~ok, "reject_reason"]) == {"http_404"}
    assert (manifest.loc[ok, "attempts"] == 1).all()
    assert manifest["fiberid"].tolist() == shard["fiberid"].tolist()
    # resumed: valid cached files are kept; a truncated one is fetched again
    bad = manifest.loc[ok, "path"].iloc[0]
    with open(bad, "r+b") as fh:
        fh.truncate(5000)
    again = acquire_sdss_spectra(shard_path, out, fetch)
    assert (again["status"] == manifest["status"]).all()
    assert again.loc[again["path"] == bad, "attempts"].tolist() == [1]
    assert (again.loc[ok & (again["path"] != bad), "attempts"] == 0).all()
    assert (again["sha256"] == manifest["sha256"]).all()


def test_image_manifest_records_cutouts_the_mock_lacks(archive, tmp_path):
    root, shard_path, shard = archive
    out = tmp_path / "sdss/images/shard-000.parquet"
    manifest = acquire_sdss_images(shard_path, out, sdss_images_fetcher("mock", mock_root=root))
    assert manifest["object_id"].tolist() == shard["object_id"].tolist()
    ok = manifest["status"] == "ok"
    assert ok.tolist() == [False] * (40 - N_IMAGES) + [True] * N_IMAGES
    assert manifest.loc[~ok, "reject_reason"].str.startswith("not_in_archive").all()
    for row in manifest[ok].itertuples():  # the cache layout of the live client
        assert row.path.endswith(f"cache/shard-000/cutouts/{row.object_id}.fits")
    # a cutout size the mock did not render is refused, not copied
    small = acquire_sdss_images(shard_path, tmp_path / "other/shard-000.parquet",
                                sdss_images_fetcher("mock", mock_root=root, size=32))
    assert (small["status"] == "failed").all()


def test_dr7_table_and_live_needs_its_urls(archive, tmp_path):
    root, _, _ = archive
    table = acquire_dr7(tmp_path / "mpajhu_dr7/sfr.parquet",
                        lambda dest: fetch_dr7("mock", dest, mock_root=root))
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    assert len(table) == len(galspec)
    assert (tmp_path / "mpajhu_dr7/gal_totsfr_dr7_v5_2.fits").is_file()
    with pytest.raises(ValueError, match="live.sdss_sas.url"):
        sdss_spectra_fetcher("live")(pd.DataFrame({"plateid": [1], "mjd": [1],
                                                   "fiberid": [1]}), tmp_path)
    with pytest.raises(ValueError, match="live.mpajhu_dr7.url"):
        fetch_dr7("live", tmp_path)
    with pytest.raises(ValueError, match="mock or live"):
        sdss_spectra_fetcher("sas")
