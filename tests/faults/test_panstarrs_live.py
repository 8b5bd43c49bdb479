"""The per-shard PS1 acquisition through its live branch (ps1filenames.py, then
fitscut.cgi per band) against a loopback PS1 image service with faults gives what the
mock branch gives: the same files (sha256) per catalogue object, the same listed band
orders, the same missing-band rejects (recorded, not raised); a rerun is served from the
cache without a request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from http_faults import FaultPlan, FaultServer

from galstar.archives.panstarrs import (
    acquire_ps1,
    manifest_paths,
    parse_listing,
    read_ps1_cutouts,
)
from galstar.io import write_parquet
from galstar.mock import build_mock_archive
from galstar.mock.ps1_images import PS1_DIR, MockPs1Service, build_ps1_images, read_index
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.mock.sources import ps1_fetcher

FAST = dict(max_retries=6, backoff_s=0.005, timeout_s=1.5, rate_per_s=None)
KINDS = ("500", "429", "timeout", "truncated", "html")
SIZE = 24
HEAD = "projcell subcell ra dec filter mjd type filename shortname badflag\n"


class Ps1Service(FaultServer):
    """The mock's PS1 cutouts as ps1images.stsci.edu serves them."""

    def __init__(self, root, **kwargs):
        super().__init__(root=root, **kwargs)
        self.index = read_index(root)

    def _object(self, params):
        near = (np.abs(self.index["ra"] - float(params["ra"])) < 1e-6) & (
            np.abs(self.index["dec"] - float(params["dec"])) < 1e-6)
        return self.index[near].iloc[0] if near.any() else None

    def route(self, path, params, range_header):
        if path == "/cgi-bin/ps1filenames.py":
            row = self._object(params)
            body = HEAD if row is None else row["listing"]
            return "listing", lambda: (200, body.encode(), {"Content-Type": "text/plain"})
        if path == "/cgi-bin/fitscut.cgi":
            row = self._object(params)
            if row is None or params.get("format") != "fits" or int(params["size"]) != SIZE:
                return "fitscut", lambda: (400, b"bad request\n", {})
            src = self.root / PS1_DIR / str(int(row["specObjID"])) / params["red"].rsplit("/")[-1]
            return "fitscut", lambda: self._file(src, None)
        return "other", lambda: (404, b"Not Found\n", {})


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("ps1_live") / "mock"
    build_mock_archive(root, 60, 20, 100, 8)
    build_ps1_images(root, n_images=14, size=SIZE, missing_band_fraction=0.25)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    shard = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID").iloc[:18]
    shard = shard.reset_index(drop=True)
    shard.insert(0, "object_id", np.arange(len(shard), dtype=np.int64) + 9 * 10**14)
    write_parquet(shard, root.parent / "shard-000.parquet")
    return root, root.parent / "shard-000.parquet"


@pytest.fixture
def server(archive):
    srv = Ps1Service(archive[0], plan=FaultPlan(rate=0.3, kinds=KINDS, seed=5, timeout_s=1.8))
    srv.start()
    yield srv
    srv.stop()


def test_live_branch_matches_the_mock_branch(archive, server, tmp_path):
    root, shard = archive
    mock = acquire_ps1(shard, tmp_path / "mock/shard-000.parquet",
                       ps1_fetcher("mock", size=SIZE, mock_root=root))
    live_fetch = ps1_fetcher("live", size=SIZE, concurrency=3, seed=2,
                             filenames_url=f"{server.base_url}/cgi-bin/ps1filenames.py",
                             fitscut_url=f"{server.base_url}/cgi-bin/fitscut.cgi", **FAST)
    live = acquire_ps1(shard, tmp_path / "live/shard-000.parquet", live_fetch)
    assert server.stats.total_faults >= 5
    cols = ["object_id", "listed", "status", "reject_reason", "sha256"]
    pd.testing.assert_frame_equal(live[cols], mock[cols])
    # what the mock archive holds: 14 objects rendered (some lacking a band), 4 not
    index = read_index(root).set_index("specObjID")["listing"]
    spec = pd.read_parquet(shard)["specObjID"]
    truth = ["".join(b for b, _ in parse_listing(index[s].encode())) if s in index else ""
             for s in spec]
    assert mock["listed"].tolist() == truth
    complete = np.array([len(t) == 5 for t in truth])
    assert 8 <= complete.sum() < 14 and (mock["status"] == "ok").to_numpy().tolist() == (
        complete.tolist())
    missing = mock[mock["status"] != "ok"]
    assert missing["reject_reason"].str.startswith("missing_band: ").sum() >= 1
    assert (missing["reject_reason"].str.startswith("no_stack: ")
            == (missing["listed"] == "")).all() and (missing["listed"] == "").sum() == 4
    for row in missing[missing["listed"] != ""].itertuples():
        absent = sorted(set("grizy") - set(row.listed))
        assert row.reject_reason.startswith(f"missing_band: {','.join(absent)} ")
    # the service's band order is not g, r, i, z, y, and the files still read in order
    assert (mock.loc[mock["status"] == "ok", "listed"] != "grizy").any()
    service = MockPs1Service(root)
    for row in live[live["status"] == "ok"].itertuples():
        cube = read_ps1_cutouts(manifest_paths(row.path))
        np.testing.assert_allclose(cube, service.image(row.ra, row.dec, SIZE), rtol=2e-6,
                                   atol=2e-7)
    # a rerun (a killed job's resume) is served from the cache: no new request
    before = server.stats.total_requests
    again = acquire_ps1(shard, tmp_path / "live/shard-000.parquet", live_fetch)
    assert server.stats.total_requests == before
    pd.testing.assert_frame_equal(again[cols], live[cols])
    assert all(Path(p).is_file() for r in again["path"] for p in manifest_paths(r))
