"""Live clients against the mock archive served over loopback HTTP, faults included.

The same simulated archive is read twice: in-process (``archive: mock``) and through
the live clients and the fault server (``archive: live``). Everything after the bytes
arrive is shared, so both must give identical files and tables.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from http_faults import (  # noqa: F401 (fault_server is a fixture)
    FaultPlan,
    fault_server,
    mock_cutout_service,
)

from galstar.archives.acquire import fetch_cutouts
from galstar.archives.legacysurvey import iter_sweep_rows
from galstar.archives.skyserver import MPAJHU_COLUMNS
from galstar.io import read_parquet, write_parquet
from galstar.mock.sources import (
    cutout_source,
    cutout_source_key,
    fetch_dr9_sweeps,
    fetch_mpajhu,
)

mock = pytest.importorskip("galstar.mock")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mock") / "archive"
    mock.build_mock_archive(root, n_galaxies=150, n_stars=20, n_field=200, seed=5)
    return root


def _galaxy_shard(archive: Path, path: Path, n: int, first_id: int) -> Path:
    """A shard table of the first ``n`` non-PSF sources of the archive's first sweep."""
    sweep = sorted((archive / "dr9" / "south" / "sweep").glob("sweep-*.fits"))[0]
    rows = next(iter_sweep_rows(sweep, ["RA", "DEC", "TYPE"]))
    rows = rows[rows["TYPE"] != "PSF"].head(n)
    write_parquet(pd.DataFrame({"object_id": np.arange(len(rows), dtype=np.int64) + first_id,
                                "RA": rows["RA"].to_numpy(), "DEC": rows["DEC"].to_numpy()}),
                  path)
    return path


def _cache(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_mock_cutouts_over_faulty_http_equal_the_in_process_service(archive, tmp_path,
                                                                    fault_server):  # noqa: F811
    shard = _galaxy_shard(archive, tmp_path / "shard-000.parquet", 10, first_id=10**12)
    common = dict(size=152, bands="grz", concurrency=2, max_retries=4, backoff_s=0.005,
                  progress=False)

    local = fetch_cutouts(shard, tmp_path / "mock", tmp_path / "mock.parquet",
                          cutout_source("mock", mock_root=archive), rate_per_s=None, **common)
    server = fault_server(cutout=mock_cutout_service(archive),
                          plan=FaultPlan(rate=0.4, seed=4,
                                         kinds=("500", "429", "truncated", "html")))
    remote = fetch_cutouts(shard, tmp_path / "live", tmp_path / "live.parquet",
                           cutout_source("live", cutout_url=server.cutout_url, timeout_s=10.0),
                           rate_per_s=None, **common)

    assert len(local) == len(remote) == 10
    assert (local["status"] == "ok").all() and (remote["status"] == "ok").all()
    assert server.stats.total_faults / server.stats.total_requests >= 0.05
    assert _cache(tmp_path / "live") == _cache(tmp_path / "mock")  # byte-identical
    assert remote["sha256"].tolist() == local["sha256"].tolist()


def test_cutouts_cached_from_another_source_are_fetched_again(archive, tmp_path):
    shard = _galaxy_shard(archive, tmp_path / "shard-000.parquet", 6, first_id=7)
    render = cutout_source("mock", mock_root=archive)
    calls = []

    def source(ra, dec):
        calls.append((ra, dec))
        return render(ra, dec)

    key = cutout_source_key("mock", mock_root=archive)
    common = dict(size=152, bands="grz", concurrency=2, rate_per_s=None, progress=False)
    cache = tmp_path / "cache"
    fetch_cutouts(shard, cache, tmp_path / "m.parquet", source, source_key=key, **common)
    assert len(calls) == 6 and len(list(cache.glob("*.fits"))) == 6
    fetch_cutouts(shard, cache, tmp_path / "m.parquet", source, source_key=key, **common)
    assert len(calls) == 6  # same source: every cutout served from the cache

    # A regenerated mock (here: its manifest rewritten) is another source.
    copy = tmp_path / "regenerated"
    shutil.copytree(archive, copy)
    (copy / "manifest.json").write_text((archive / "manifest.json").read_text() + "\n")
    other = cutout_source_key("mock", mock_root=copy)
    assert other != key and other["size"] == key["size"]
    assert cutout_source_key("mock", mock_root=archive, pixscale=0.524) != key
    fetch_cutouts(shard, cache, tmp_path / "m.parquet", source, source_key=other, **common)
    assert len(calls) == 12  # all fetched again
    assert json.loads((cache / "source.json").read_text()) == other


def test_paged_skyserver_on_the_mock_archive(archive, tmp_path, fault_server):  # noqa: F811
    galspec = archive / "skyserver" / "galSpec.fits"
    n_mock = fetch_mpajhu("mock", tmp_path / "mock.parquet", mock_table=galspec)
    reference = read_parquet(tmp_path / "mock.parquet").sort_values("specObjID")
    reference = reference[list(MPAJHU_COLUMNS)].reset_index(drop=True)
    # timeouts are tested with small answers in test_archives_http/live; here a busy
    # machine must not turn a slow clean answer into a failure
    server = fault_server(root=archive, plan=FaultPlan(
        rate=0.2, seed=8, kinds=("500", "429", "truncated", "truncated_nolength", "html")))
    common = dict(url=server.sql_url, page_rows=30, timeout_s=10.0, max_retries=5,
                  backoff_s=0.005)

    n_all = fetch_mpajhu("live", tmp_path / "all.parquet", push_cuts=False, **common)
    assert n_all == n_mock and n_all > 5 * 30  # several pages, the last one partial
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "all.parquet"), reference,
                                  check_dtype=False)

    n_cut = fetch_mpajhu("live", tmp_path / "cut.parquet", push_cuts=True, sn_median_r_min=5.0,
                         **common)
    truth = pd.read_parquet(archive / "truth" / "spectra.parquet")
    # the SQL selection applies every paper cut except label validity, the last one
    survivors = truth.loc[truth["expected_cut"].isin(["", "valid_mass_ssfr"]), "specObjID"]
    got = read_parquet(tmp_path / "cut.parquet")
    assert n_cut == len(survivors) < n_all
    assert sorted(got["specObjID"]) == sorted(survivors)


def test_live_sweeps_equal_the_mock_archive(archive, tmp_path, fault_server):  # noqa: F811
    fetch_mpajhu("mock", tmp_path / "mpajhu.parquet",
                 mock_table=archive / "skyserver" / "galSpec.fits")
    local = fetch_dr9_sweeps("mock", tmp_path / "mpajhu.parquet", tmp_path / "mock.txt",
                             mock_root=archive)
    server = fault_server(root=archive, plan=FaultPlan(rate=0.3, seed=2,
                                                       kinds=("truncated", "500", "html")))
    remote = fetch_dr9_sweeps("live", tmp_path / "mpajhu.parquet", tmp_path / "live.txt",
                              base_url=server.sweep_url, max_retries=4, backoff_s=0.005)
    assert len(local) == len(remote) >= 2
    for a, b in zip(local, remote, strict=True):
        assert Path(a).parts[-3:] == Path(b).parts[-3:]  # region/sweep/name
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert Path(remote[0]).is_relative_to(tmp_path / "dr9")


@pytest.mark.slow
def test_acquire_rules_on_the_live_archive_end_to_end(archive, tmp_path, fault_server,  # noqa: F811
                                                      repo):
    """Snakemake runs the three rules (and the cross-match) against the loopback archive."""
    import subprocess
    import sys

    import yaml

    server = fault_server(root=archive, cutout=mock_cutout_service(archive),
                          plan=FaultPlan(rate=0.1, seed=6, kinds=("500", "429", "truncated")))
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    config["archive"] = "live"
    config["live"]["skyserver"].update(url=server.sql_url, page_rows=1000)
    config["live"]["legacysurvey"].update(cutout_url=server.cutout_url,
                                          sweep_url=server.sweep_url)
    config["download"].update(concurrency=4, rate_per_s=100.0, max_retries=6, backoff_s=0.01,
                              timeout_s=5.0)
    workdir = tmp_path / "wd"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    target = "resources/live/cutouts/shard-000.parquet"
    run = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-s", str(repo / "Snakefile"),
         "-d", str(workdir), "--cores", "2", "--quiet", "rules", "--", target],
        capture_output=True, text=True, timeout=600,
    )
    logs = "\n".join(p.read_text() for p in sorted((workdir / "logs").rglob("*.log")))
    assert run.returncode == 0, run.stderr[-3000:] + logs[-3000:]
    mpajhu = read_parquet(workdir / "resources" / "live" / "mpajhu.parquet")
    truth = pd.read_parquet(archive / "truth" / "spectra.parquet")
    assert len(mpajhu) == truth["expected_cut"].isin(["", "valid_mass_ssfr"]).sum()
    sweeps = (workdir / "resources" / "live" / "dr9_sweeps.txt").read_text().split()
    assert sweeps and all(Path(workdir, p).is_file() for p in sweeps)
    shard = read_parquet(workdir / "results/galaxies/catalog/shards/shard-000.parquet")
    manifest = read_parquet(workdir / target)
    assert manifest["object_id"].tolist() == shard["object_id"].tolist()  # none lost
    assert (manifest["status"] == "ok").all()
    cache = workdir / "resources" / "live" / "cutouts" / "cache" / "shard-000"
    assert sorted(p.name for p in cache.glob("*.fits")) == sorted(
        f"{i}.fits" for i in shard["object_id"])
    assert json.loads((cache / "source.json").read_text())["cutout_url"].startswith("http")
