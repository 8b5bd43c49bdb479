"""The per-shard SDSS acquisition through its live branch (galstar.mock.sources, live
clients) against a loopback SAS / MPA server with faults gives what the mock branch gives:
the same files (sha256) per catalogue object, the same failures, the same DR7 table."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest
from http_faults import FaultPlan, FaultServer

from galstar.archives.sdss_acquire import acquire_dr7, acquire_sdss_spectra
from galstar.io import write_parquet
from galstar.mock import build_mock_archive
from galstar.mock.mpajhu_dr7 import DR7_DIR
from galstar.mock.sdss_spectra import build_sdss_spectra
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.mock.sources import fetch_dr7, sdss_spectra_fetcher

FAST = dict(max_retries=6, backoff_s=0.005, timeout_s=1.5, rate_per_s=None)
KINDS = ("500", "429", "timeout", "truncated", "html")
GZ_NAMES = {"gal_info": "gal_info_dr7_v5_2.fit.gz", "gal_totsfr": "gal_totsfr_dr7_v5_2.fit.gz"}


class Sas(FaultServer):
    """The mock root as a SAS mirror (``/sas/...``) and the MPA DR7 pages (``.fit.gz``)."""

    def route(self, path, params, range_header):
        if path.startswith("/sas/"):
            return "sas", lambda: self._file(self.root / path[1:], range_header)
        gz = re.fullmatch(r"/mpa/(gal_[a-z]+_dr7_v5_2)\.fit\.gz", path)
        if gz:
            src = self.root / DR7_DIR / f"{gz.group(1)}.fits"
            return "mpa", lambda: (200, gzip.compress(src.read_bytes(), mtime=0), {})
        return "other", lambda: (404, b"Not Found\n", {})


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdss_live") / "mock"
    build_mock_archive(root, 60, 20, 100, 8)
    build_sdss_spectra(root, n_spectra=15)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    shard = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID").iloc[:20]
    shard = shard.reset_index(drop=True)
    shard.insert(0, "object_id", np.arange(len(shard), dtype=np.int64) + 7 * 10**14)
    write_parquet(shard, root.parent / "shard-000.parquet")
    return root, root.parent / "shard-000.parquet"


@pytest.fixture
def server(archive):
    srv = Sas(root=archive[0], plan=FaultPlan(rate=0.3, kinds=KINDS, seed=4, timeout_s=1.8))
    srv.start()
    yield srv
    srv.stop()


def test_live_branch_matches_the_mock_branch(archive, server, tmp_path):
    root, shard = archive
    mock = acquire_sdss_spectra(shard, tmp_path / "mock/shard-000.parquet",
                                sdss_spectra_fetcher("mock", mock_root=root))
    live = acquire_sdss_spectra(shard, tmp_path / "live/shard-000.parquet",
                                sdss_spectra_fetcher("live", base_url=server.base_url,
                                                     concurrency=3, seed=1, **FAST))
    assert server.stats.total_faults >= 3
    cols = ["object_id", "specObjID", "plate", "mjd", "fiberid", "status", "reject_reason",
            "sha256"]
    pd.testing.assert_frame_equal(live[cols], mock[cols])
    assert live["status"].tolist() == ["ok"] * 15 + ["failed"] * 5
    mock_dr7 = acquire_dr7(tmp_path / "mock/mpajhu_dr7/sfr.parquet",
                           lambda d: fetch_dr7("mock", d, mock_root=root))
    live_dr7 = acquire_dr7(tmp_path / "live/mpajhu_dr7/sfr.parquet",
                           lambda d: fetch_dr7("live", d, base_url=f"{server.base_url}/mpa",
                                               names=GZ_NAMES, **FAST),
                           names=GZ_NAMES)
    pd.testing.assert_frame_equal(live_dr7, mock_dr7)
