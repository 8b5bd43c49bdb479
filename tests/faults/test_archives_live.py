"""Live archive clients (SkyServer SQL, DR9 sweeps, cutout URLs) against loopback servers."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from http_faults import (  # noqa: F401 (fault_server is a fixture)
    FaultPlan,
    fault_server,
    synthetic_galspec,
    synthetic_sweep,
)

from galstar.archives.acquire import IncompleteDownload
from galstar.archives.legacysurvey import (
    cutout_url,
    iter_sweep_rows,
    parse_sweep_name,
    sweep_name,
    sweep_names_covering,
    sweep_url,
)
from galstar.archives.skyserver import (
    MPAJHU_COLUMNS,
    mpajhu_count_sql,
    mpajhu_page_sql,
    mpajhu_where,
)
from galstar.io import read_parquet, write_parquet
from galstar.mock.sources import fetch_dr9_sweeps, fetch_mpajhu

# -- Legacy Survey ------------------------------------------------------------------


def test_cutout_url_is_the_services_exact_request():
    url = cutout_url("https://www.legacysurvey.org/viewer/fits-cutout", 150.123456789, -2.5)
    assert url == ("https://www.legacysurvey.org/viewer/fits-cutout?ra=150.123456789"
                   "&dec=-2.5&layer=ls-dr9&pixscale=0.262&bands=grz&size=152")


def test_sweep_names_follow_dr9():
    assert sweep_name(0, -5) == "sweep-000m005-010p000.fits"
    assert sweep_name(350, 30) == "sweep-350p030-360p035.fits"
    assert parse_sweep_name("/x/sweep-120m010-130m005.fits") == (120, -10, 130, -5)
    with pytest.raises(ValueError, match="not a sweep box corner"):
        sweep_name(5, 0)
    with pytest.raises(ValueError, match="not a DR9 sweep file name"):
        parse_sweep_name("tractor-1234.fits")
    names = sweep_names_covering([0.0, 9.99, 359.999, 10.0, 150.0, 180.0],
                                 [-0.01, 4.99, 90.0, 0.0, -90.0, 0.0])
    assert names == ["sweep-000m005-010p000.fits", "sweep-000p000-010p005.fits",
                     "sweep-010p000-020p005.fits", "sweep-150m090-160m085.fits",
                     "sweep-180p000-190p005.fits", "sweep-350p085-360p090.fits"]
    with pytest.raises(ValueError, match="1 invalid positions"):
        sweep_names_covering([1.0, np.nan], [0.0, 0.0])
    assert sweep_url("https://h/dr9/", "south", names[0]) == (
        "https://h/dr9/south/sweep/9.0/sweep-000m005-010p000.fits")


def test_sweep_streaming_returns_every_row_once_with_bounded_memory(tmp_path):
    n, chunk_rows = 100_000, 1_000
    rng = np.random.default_rng(0)
    path = tmp_path / "sweep-150p000-160p005.fits"
    synthetic_sweep(path, rng.uniform(150, 160, n), rng.uniform(0, 5, n))
    columns = ["OBJID", "RA", "DEC", "TYPE"]
    # what the four columns take when read whole: numbers plus one str object per TYPE
    whole_table_bytes = n * (4 + 8 + 8) + n * (8 + 52)
    seen = np.zeros(n, dtype=np.int64)  # allocated before tracing starts
    n_chunks = 0
    tracemalloc.start()
    for chunk in iter_sweep_rows(path, columns, chunk_rows=chunk_rows):
        assert len(chunk) == chunk_rows and chunk.index[0] == n_chunks * chunk_rows
        np.add.at(seen, chunk["OBJID"].to_numpy(), 1)
        n_chunks += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n_chunks == n // chunk_rows
    assert (seen == 1).all()  # every row exactly once
    assert chunk["TYPE"].tolist()[:5] == ["PSF", "REX", "EXP", "DEV", "SER"]
    assert chunk["RA"].dtype == np.float64 and chunk["RA"].dtype.byteorder in "=<"
    assert peak < whole_table_bytes / 10, (peak, whole_table_bytes)
    with pytest.raises(KeyError, match="no column"):
        next(iter_sweep_rows(path, ["FLUX_W4"]))
    # default: every scalar column, text columns included
    first = next(iter_sweep_rows(path, chunk_rows=10))
    assert {"OBJID", "RA", "DEC", "TYPE"} <= set(first.columns) and len(first) == 10
    assert first["TYPE"].tolist()[:5] == ["PSF", "REX", "EXP", "DEV", "SER"]


def _sweep_root(root: Path) -> dict[str, bytes]:
    """A mock archive with sweeps: two south boxes, one north box (one box in both)."""
    files = {}
    for region, (ra0, dec0), n in [("south", (150, 0), 3000), ("south", (160, 5), 2000),
                                   ("north", (150, 0), 1000)]:
        rng = np.random.default_rng(ra0 + dec0 + n)
        path = root / "dr9" / region / "sweep" / sweep_name(ra0, dec0)
        synthetic_sweep(path, rng.uniform(ra0, ra0 + 10, n), rng.uniform(dec0, dec0 + 5, n))
        files[f"{region}/{path.name}"] = path.read_bytes()
    return files


def _mpajhu(tmp_path: Path) -> Path:
    # positions in boxes (150, 0), (160, 5) and (140, 0), which no region has
    frame = pd.DataFrame({"ra": [151.0, 155.0, 161.0, 145.0], "dec": [1.0, 4.0, 7.0, 2.0]})
    path = tmp_path / "mpajhu.parquet"
    write_parquet(frame, path)
    return path


def test_live_sweeps_download_resumably_and_match_the_archive(tmp_path, fault_server):  # noqa: F811
    root = tmp_path / "archive"
    files = _sweep_root(root)
    plan = FaultPlan(rate=0.5, seed=5, kinds=("truncated", "500", "html", "truncated_nolength"),
                     max_faults_per_key=2)
    server = fault_server(root=root, plan=plan)
    kwargs = dict(regions=["north", "south"], base_url=server.sweep_url,
                  dest_dir=tmp_path / "live" / "dr9", timeout_s=5.0, max_retries=4,
                  backoff_s=0.005)
    listing = tmp_path / "live" / "dr9_sweeps.txt"
    paths = fetch_dr9_sweeps("live", _mpajhu(tmp_path), listing, **kwargs)
    assert server.stats.total_faults > 0
    assert listing.read_text().splitlines() == paths
    got = {f"{Path(p).parts[-3]}/{Path(p).name}": Path(p).read_bytes() for p in paths}
    assert got == files  # byte-identical, 404 boxes absent
    assert not list((tmp_path / "live").rglob("*.part"))

    # a second run finds every file valid: it only asks again for the 3 absent boxes
    again = fault_server(root=root)
    assert fetch_dr9_sweeps("live", _mpajhu(tmp_path), listing,
                            **{**kwargs, "base_url": again.sweep_url}) == paths
    assert again.stats.requests["sweep"] == 2 * 3 - len(files)


def test_sweep_download_continues_a_partial_file(tmp_path, fault_server):  # noqa: F811
    root = tmp_path / "archive"
    files = _sweep_root(root)
    name = "south/sweep-150p000-160p005.fits"
    dest = tmp_path / "live" / "dr9" / "south" / "sweep" / "sweep-150p000-160p005.fits"
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(files[name][:10_000])
    server = fault_server(root=root)
    from galstar.archives.http import download_file
    from galstar.archives.validate import validate_fits_table

    served = []
    original = server._file

    def spy(path, range_header):
        served.append(range_header)
        return original(path, range_header)

    server._file = spy
    outcome = download_file(sweep_url(server.sweep_url, "south", dest.name), dest,
                            lambda p: validate_fits_table(p, ["RA", "DEC"]))
    assert outcome.status == "ok" and outcome.attempts == 1
    assert served == ["bytes=10000-"]
    assert dest.read_bytes() == files[name]


def test_sweeps_that_cannot_be_fetched_fail_loudly(tmp_path, fault_server):  # noqa: F811
    root = tmp_path / "archive"
    _sweep_root(root)
    server = fault_server(root=root, plan=FaultPlan(rate=1.0, kinds=("500",),
                                                    max_faults_per_key=10**6))
    with pytest.raises(IncompleteDownload, match="sweep files not downloaded"):
        fetch_dr9_sweeps("live", _mpajhu(tmp_path), tmp_path / "list.txt",
                         regions=["south"], base_url=server.sweep_url,
                         dest_dir=tmp_path / "dr9", max_retries=1, backoff_s=0.0)
    assert not (tmp_path / "list.txt").exists()


def test_mock_sweeps_are_listed_from_the_archive(tmp_path):
    root = tmp_path / "archive"
    _sweep_root(root)
    listing = tmp_path / "list.txt"
    paths = fetch_dr9_sweeps("mock", _mpajhu(tmp_path), listing, regions=["north", "south"],
                             mock_root=root)
    assert [Path(p).relative_to(root).as_posix() for p in paths] == [
        "dr9/north/sweep/sweep-150p000-160p005.fits",
        "dr9/south/sweep/sweep-150p000-160p005.fits",
        "dr9/south/sweep/sweep-160p005-170p010.fits",
    ]
    with pytest.raises(ValueError, match="no DR9 sweep file in regions"):
        fetch_dr9_sweeps("mock", _mpajhu(tmp_path), listing, regions=["north"],
                         mock_root=tmp_path / "empty")


# -- SkyServer ----------------------------------------------------------------------


def test_page_sql_is_keyset_paginated():
    sql = mpajhu_page_sql(1000, 299489676975171584, mpajhu_where(True, 5.0))
    assert sql.startswith("SELECT TOP 1000 i.specObjID, ")
    assert "FROM galSpecInfo AS i JOIN galSpecExtra AS e ON e.specObjID = i.specObjID" in sql
    assert sql.endswith("AND i.specObjID > 299489676975171584 ORDER BY i.specObjID")
    assert "s.snMedian_r AS sn_median_r" in sql and "s.snMedian_r >= 5.0" in sql
    assert "WHERE" not in mpajhu_page_sql(10, None, "")
    assert mpajhu_count_sql("").startswith("SELECT COUNT(*) AS n FROM galSpecInfo")


def _expected_selection(table: pd.DataFrame, sn_min: float) -> pd.DataFrame:
    keep = ((table["spectrotype"] == "GALAXY") & (table["reliable"] == 1) & (table["z"] > 0)
            & (table["z_warning"] == 0) & (table["sn_median_r"] >= sn_min))
    return table[keep].sort_values("specObjID").reset_index(drop=True)


@pytest.mark.parametrize("faulted", [False, True])
def test_paged_skyserver_query_returns_exactly_all_rows(tmp_path, fault_server, faulted):  # noqa: F811
    table = synthetic_galspec(tmp_path / "archive" / "skyserver" / "galSpec.fits", 1500, seed=7)
    plan = FaultPlan(rate=0.3, seed=2, timeout_s=1.0) if faulted else FaultPlan()
    server = fault_server(root=tmp_path / "archive", plan=plan)
    out = tmp_path / "live" / "mpajhu.parquet"
    n = fetch_mpajhu("live", out, url=server.sql_url, data_release=17, page_rows=250,
                     push_cuts=True, sn_median_r_min=5.0, timeout_s=0.5 if faulted else 10.0,
                     max_retries=6, backoff_s=0.005)
    expected = _expected_selection(table, 5.0)
    got = read_parquet(out)
    assert n == len(got) == len(expected) == 825  # 4 pages: several, last one partial
    assert list(got.columns) == list(MPAJHU_COLUMNS)
    assert got["specObjID"].is_unique and got["specObjID"].dtype == np.int64
    pd.testing.assert_frame_equal(got, expected[list(MPAJHU_COLUMNS)], check_dtype=False)
    pages = -(-n // 250) + 1  # full pages, then the empty page that ends the listing
    if faulted:
        assert server.stats.total_faults / server.stats.total_requests >= 0.05
        # each fault costs one more request (a slow machine may time out a clean answer)
        assert server.stats.requests["sql"] >= pages + 1 + server.stats.total_faults
    else:
        assert server.stats.requests["sql"] == pages + 1  # + the COUNT(*) query


def test_unselected_query_and_sql_errors(tmp_path, fault_server):  # noqa: F811
    table = synthetic_galspec(tmp_path / "archive" / "skyserver" / "galSpec.fits", 300, seed=8)
    server = fault_server(root=tmp_path / "archive")
    out = tmp_path / "mpajhu.parquet"
    assert fetch_mpajhu("live", out, url=server.sql_url, page_rows=64, push_cuts=False,
                        max_retries=0) == 300
    assert sorted(read_parquet(out)["specObjID"]) == sorted(table["specObjID"])

    from galstar.archives.skyserver import SkyServerSQL

    before = server.stats.total_requests
    with pytest.raises(RuntimeError, match="failed after 1 attempts .*no such column"):
        SkyServerSQL(server.sql_url).query("SELECT TOP 1 nonsense FROM galSpecInfo",
                                           ["nonsense"])
    assert server.stats.total_requests == before + 1  # an SQL error is not retried


def test_mock_mpajhu_is_read_from_the_archive(tmp_path):
    table = synthetic_galspec(tmp_path / "galSpec.fits", 200, seed=9)
    out = tmp_path / "mock" / "mpajhu.parquet"
    assert fetch_mpajhu("mock", out, mock_table=tmp_path / "galSpec.fits") == 200
    got = read_parquet(out)
    assert got["specObjID"].tolist() == table["specObjID"].tolist()
    assert got["spectrotype"].tolist() == table["spectrotype"].tolist()
    assert np.allclose(got["lgm_fib_p50"], table["lgm_fib_p50"])
    with pytest.raises(ValueError, match="config key 'archive' must be mock or live"):
        fetch_mpajhu("sdss", out)
