"""The shared download machinery: validation, retries, rate limit, resume, manifests.

Cutouts are served by the loopback fault server (tests/http_faults.py) and fetched by
the live Legacy Survey client, so these tests exercise the live code path end to end.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from http_faults import (  # noqa: F401 (fault_server is a fixture)
    FAULT_KINDS,
    HTML_PAGE,
    FaultPlan,
    fault_server,
    synthetic_cutout,
    synthetic_cutout_service,
)

from galstar.archives.acquire import (
    MANIFEST_COLUMNS,
    IncompleteDownload,
    fetch_cutouts,
)
from galstar.archives.retry import (
    RetryPolicy,
    RetryQueue,
    StallTimer,
    TokenBucket,
    parse_retry_after,
    with_retries,
)
from galstar.archives.validate import Rejected, sniff_html, validate_cutout
from galstar.io import read_parquet, write_parquet
from galstar.mock.sources import cutout_source

SIZE = 24  # small cutouts keep the tests fast; the code path is the same as for 152


def _shard(tmp_path: Path, n: int, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "object_id": np.arange(1000, 1000 + n, dtype=np.int64) * 7919,
        "RA": rng.uniform(150.0, 160.0, n),
        "DEC": rng.uniform(0.0, 5.0, n),
    })
    path = tmp_path / "shard-000.parquet"
    write_parquet(table, path)
    return path


def _fetch(server, shard: Path, root: Path, *, timeout: float = 10.0, retries: int = 5,
           concurrency: int = 6, rate: float | None = None) -> pd.DataFrame:
    source = cutout_source("live", size=SIZE, cutout_url=server.cutout_url, timeout_s=timeout)
    return fetch_cutouts(shard, root / "cache", root / "manifest.parquet", source, size=SIZE,
                         bands="grz", concurrency=concurrency, rate_per_s=rate,
                         max_retries=retries, backoff_s=0.005, seed=3, progress=False)


def _cache_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "cache").iterdir())}


# -- validation -------------------------------------------------------------------


def test_valid_cutout_is_accepted():
    info = validate_cutout(synthetic_cutout(150.1, 2.2, size=SIZE), SIZE, "grz")
    assert info.shape == (3, SIZE, SIZE) and info.bands == "grz"


@pytest.mark.parametrize(
    ("mutate", "reason", "permanent"),
    [
        (lambda b: HTML_PAGE, "html_page", False),
        (lambda b: b"  \n<HTML><body>502 Bad Gateway</body></HTML>", "html_page", False),
        (lambda b: b[: len(b) // 2], "truncated", False),
        (lambda b: b[:2000], "truncated", False),
        (lambda b: b[:-1], "truncated", False),
        (lambda b: b"\x00" * 3000, "not_fits", False),
        (lambda b: synthetic_cutout(1.0, 1.0, size=SIZE + 2), "bad_shape", False),
        (lambda b: synthetic_cutout(1.0, 1.0, size=SIZE, bands="gri"), "bad_bands", False),
        (lambda b: synthetic_cutout(1.0, 1.0, size=SIZE, empty_band="z"),
         "out_of_footprint", True),
    ],
)
def test_bad_cutouts_are_rejected(mutate, reason, permanent):
    body = mutate(synthetic_cutout(150.1, 2.2, size=SIZE))
    with pytest.raises(Rejected) as err:
        validate_cutout(body, SIZE, "grz")
    assert err.value.reason.split(":")[0] == reason
    assert err.value.permanent is permanent


def test_non_finite_and_wrong_dtype_are_rejected():
    from astropy.io import fits

    cube = np.ones((3, SIZE, SIZE), np.float32)
    cube[1, 3, 4] = np.nan
    hdu = fits.PrimaryHDU(cube)
    hdu.header["BANDS"] = "grz"
    path_bytes = _hdu_bytes(hdu)
    with pytest.raises(Rejected, match="non_finite: 1 pixels in band r"):
        validate_cutout(path_bytes, SIZE, "grz")
    hdu = fits.PrimaryHDU(np.ones((3, SIZE, SIZE), np.float64))
    hdu.header["BANDS"] = "grz"
    with pytest.raises(Rejected, match="bad_dtype"):
        validate_cutout(_hdu_bytes(hdu), SIZE, "grz")


def _hdu_bytes(hdu) -> bytes:
    import io

    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def test_sniff_html():
    assert sniff_html(b"<!DOCTYPE html><html>")
    assert sniff_html(b"\n\n  <html lang='en'>")
    assert not sniff_html(b"SIMPLE  =                    T")


# -- retry policy and rate limit ---------------------------------------------------


def test_backoff_is_exponential_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(max_retries=5, backoff_s=1.0, max_backoff_s=8.0)
    rng = random.Random(0)
    for retry, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        waits = [policy.delay(retry, rng) for _ in range(200)]
        assert base / 2 <= min(waits) and max(waits) <= base
        assert max(waits) - min(waits) > base / 4  # jittered, not constant
    assert policy.delay(1, rng, retry_after=30.0) == 30.0
    assert RetryPolicy(max_retry_after_s=10.0).delay(1, rng, retry_after=1e6) == 10.0


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    assert 100 < parse_retry_after(future) <= 121


def test_token_bucket_limits_rate():
    bucket = TokenBucket(50.0, burst=1)
    start = time.monotonic()
    for _ in range(11):
        bucket.acquire()
    assert time.monotonic() - start >= 0.19  # 10 waits of 1/50 s after the first token


def test_with_retries_stops_on_permanent_and_gives_up():
    from galstar.archives.http import FetchError

    calls = []

    def permanent():
        calls.append(1)
        raise FetchError("http_404", permanent=True)

    result, attempts, reason = with_retries(permanent, RetryPolicy(3, 0.0), TokenBucket(None),
                                            random.Random(0))
    assert (result, attempts, reason, len(calls)) == (None, 1, "http_404", 1)

    def flaky():
        calls.append(1)
        raise FetchError("http_503")

    calls.clear()
    result, attempts, reason = with_retries(flaky, RetryPolicy(3, 0.0), TokenBucket(None),
                                            random.Random(0))
    assert (result, attempts, reason, len(calls)) == (None, 4, "gave_up: http_503", 4)


def test_stall_timer_is_a_multiple_of_recent_answers():
    timer = StallTimer(factor=4.0, window=20, min_samples=8, floor_s=0.1)
    for _ in range(7):
        timer.record(0.05)
    assert timer.limit() is None  # too few answers to know what is slow
    timer.record(0.05)
    assert timer.limit() == pytest.approx(0.2)
    for seconds in [0.01] * 18 + [0.5, 0.5]:  # the window keeps the last 20
        timer.record(seconds)
    assert timer.limit() == pytest.approx(2.0)  # 90th percentile of 18 x 0.01, 2 x 0.5
    for _ in range(20):
        timer.record(0.001)
    assert timer.limit() == 0.1  # the floor
    off = StallTimer(factor=None)
    for _ in range(50):
        off.record(0.05)
    assert off.limit() is None


def test_retry_queue_retries_when_due_before_fresh_objects():
    queue = RetryQueue([0, 1, 2], RetryPolicy(max_retries=3, backoff_s=0.0), pause_after=8,
                       rng=random.Random(0))
    assert queue.get() == 0
    queue.retry(0, 0.05)
    assert queue.get() == 1  # 0 is not due yet: the worker goes on
    time.sleep(0.06)
    assert queue.get() == 0  # due: before the fresh object 2
    assert queue.get() == 2
    for _ in range(3):
        queue.done()
    assert queue.get() is None


def test_retry_queue_pauses_every_worker_in_an_outage_and_opens_the_circuit():
    policy = RetryPolicy(max_retries=2, backoff_s=0.2, max_backoff_s=0.2)
    queue = RetryQueue(range(100), policy, pause_after=4, rng=random.Random(0))
    for _ in range(3):
        queue.failed("http_503")
    start = time.monotonic()
    queue.get()
    assert time.monotonic() - start < 0.05  # three failures: bad luck, no pause
    queue.failed("http_503")  # the fourth in a row: every worker pauses
    start = time.monotonic()
    queue.get()
    assert time.monotonic() - start >= 0.1  # at least half the 0.2 s backoff
    queue.answered()
    start = time.monotonic()
    queue.get()
    assert time.monotonic() - start < 0.05  # an answer ends the pause
    for _ in range(4 * 3):  # (max_retries + 1) rounds of failures on every worker
        queue.failed("http_503")
    assert queue.outage == "outage: 12 attempts in a row failed (last: http_503)"
    assert queue.get() is None


# -- end to end against the loopback server ----------------------------------------


def test_faulted_run_equals_fault_free_run(tmp_path, fault_server):  # noqa: F811
    n = 60
    shard = _shard(tmp_path, n)
    clean = fault_server(cutout=synthetic_cutout_service)
    reference = _fetch(clean, shard, tmp_path / "clean")
    assert clean.stats.total_faults == 0 and clean.stats.total_requests == n

    # generous client timeout (1 s) so a busy test machine never times out a clean answer
    plan = FaultPlan(rate=0.35, seed=11, max_faults_per_key=3, timeout_s=2.0)
    faulty = fault_server(cutout=synthetic_cutout_service, plan=plan)
    manifest = _fetch(faulty, shard, tmp_path / "faulty", retries=5, timeout=1.0)

    stats = faulty.stats
    assert stats.total_faults / stats.total_requests >= 0.05
    assert set(stats.faults) == set(FAULT_KINDS)  # every kind was exercised
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert len(manifest) == n and manifest["object_id"].is_unique  # zero objects lost
    assert (manifest["status"] == "ok").all() and (manifest["reject_reason"] == "").all()
    assert int(manifest["attempts"].sum()) == stats.total_requests
    assert int((manifest["attempts"] > 1).sum()) > 0
    # zero corrupt files accepted: byte-identical to the fault-free run, all valid
    assert _cache_bytes(tmp_path / "faulty") == _cache_bytes(tmp_path / "clean")
    assert len(_cache_bytes(tmp_path / "faulty")) == n
    assert manifest["sha256"].tolist() == reference["sha256"].tolist()
    on_disk = read_parquet(tmp_path / "faulty" / "manifest.parquet")
    pd.testing.assert_frame_equal(on_disk, manifest)
    for path in manifest["path"]:
        validate_cutout(Path(path).read_bytes(), SIZE, "grz")


def test_half_done_shard_resumes_without_refetching_valid_files(tmp_path, fault_server):  # noqa: F811
    n = 30
    shard = _shard(tmp_path, n, seed=2)
    first = fault_server(cutout=synthetic_cutout_service)
    manifest = _fetch(first, shard, tmp_path)
    before = _cache_bytes(tmp_path)
    cache = tmp_path / "cache"
    paths = [Path(p) for p in manifest["path"]]
    for path in paths[:10]:
        path.unlink()  # never downloaded
    paths[10].write_bytes(paths[10].read_bytes()[:5000])  # corrupt (not via our writer)
    (cache / ".123.fits.tmp1234.fits").write_bytes(b"partial")  # a killed writer's temp
    untouched = {p: p.stat().st_mtime_ns for p in paths[11:]}

    second = fault_server(cutout=synthetic_cutout_service)
    resumed = _fetch(second, shard, tmp_path)
    assert second.stats.total_requests == 11  # only the missing and the corrupt file
    assert (resumed["status"] == "ok").all()
    assert (resumed["attempts"].to_numpy()[11:] == 0).all()
    assert {p: p.stat().st_mtime_ns for p in paths[11:]} == untouched
    assert _cache_bytes(tmp_path) == before  # the temp file is gone, content identical


@pytest.mark.parametrize("kind", ["html", "truncated", "truncated_nolength", "500", "timeout"])
def test_persistent_faults_are_never_accepted(tmp_path, fault_server, kind):  # noqa: F811
    shard = _shard(tmp_path, 4, seed=3)
    plan = FaultPlan(rate=1.0, kinds=(kind,), max_faults_per_key=10**6, timeout_s=1.5)
    server = fault_server(cutout=synthetic_cutout_service, plan=plan)
    # only the timeout fault needs a short client timeout; others get a generous one
    with pytest.raises(IncompleteDownload, match="4 of 4 cutouts not downloaded"):
        _fetch(server, shard, tmp_path, retries=2, timeout=0.5 if kind == "timeout" else 10.0)
    assert server.stats.total_requests == 4 * 3
    assert list((tmp_path / "cache").iterdir()) == []  # nothing accepted, no temp left
    assert not (tmp_path / "manifest.parquet").exists()


def test_out_of_footprint_is_recorded_not_retried(tmp_path, fault_server):  # noqa: F811
    shard = _shard(tmp_path, 8, seed=4)
    table = read_parquet(shard)
    outside = set(table["RA"].iloc[[1, 5]].round(9))

    def service(params):
        empty = "z" if round(float(params["ra"]), 9) in outside else None
        return synthetic_cutout(float(params["ra"]), float(params["dec"]), int(params["size"]),
                                params["bands"], empty_band=empty)

    server = fault_server(cutout=service)
    manifest = _fetch(server, shard, tmp_path)
    failed = manifest[manifest["status"] == "failed"]
    assert failed.index.tolist() == [1, 5]
    assert (failed["reject_reason"] == "out_of_footprint: band z has no data").all()
    assert (failed["attempts"] == 1).all() and (failed["path"] == "").all()
    assert (manifest["status"] == "ok").sum() == 6
    assert server.stats.total_requests == 8
    assert len(list((tmp_path / "cache").iterdir())) == 6


def test_retry_after_is_honoured(tmp_path, fault_server):  # noqa: F811
    shard = _shard(tmp_path, 1, seed=5)
    plan = FaultPlan(rate=1.0, kinds=("429",), max_faults_per_key=1, retry_after_s=0.4)
    server = fault_server(cutout=synthetic_cutout_service, plan=plan)
    start = time.monotonic()
    manifest = _fetch(server, shard, tmp_path)
    assert time.monotonic() - start >= 0.4  # backoff alone would be ~5 ms
    assert manifest["attempts"].tolist() == [2] and manifest["status"].tolist() == ["ok"]


def test_concurrency_and_rate_limits(tmp_path, fault_server):  # noqa: F811
    shard = _shard(tmp_path, 24, seed=6)
    server = fault_server(cutout=synthetic_cutout_service, plan=FaultPlan(latency_s=0.05))
    _fetch(server, shard, tmp_path / "a", concurrency=3)
    assert server.stats.max_in_flight == 3

    limited = fault_server(cutout=synthetic_cutout_service)
    start = time.monotonic()
    _fetch(limited, shard, tmp_path / "b", concurrency=8, rate=40.0)
    # burst of 8 tokens, then 16 more at 40/s
    assert time.monotonic() - start >= 16 / 40 * 0.95


def test_missing_columns_and_duplicates_are_named(tmp_path, fault_server):  # noqa: F811
    server = fault_server(cutout=synthetic_cutout_service)
    bad = tmp_path / "bad.parquet"
    write_parquet(pd.DataFrame({"object_id": [1, 2], "ra": [1.0, 2.0], "dec": [0.0, 0.0]}), bad)
    with pytest.raises(KeyError, match=r"bad.parquet: missing column\(s\) \['RA', 'DEC'\]"):
        _fetch(server, bad, tmp_path)
    write_parquet(pd.DataFrame({"object_id": [1, 1], "RA": [1.0, 2.0], "DEC": [0.0, 0.0]}), bad)
    with pytest.raises(ValueError, match="object_id 1 appears more than once"):
        _fetch(server, bad, tmp_path)


def test_stalled_answers_are_cut_short_and_slow_ones_waited_for(tmp_path, fault_server):  # noqa: F811
    """An object whose first answer never comes (the server holds it 6 s, past the
    5 s client timeout) costs a fraction of a second, not the timeout; an object the
    server answers slowly every time is cut short once, then waited for."""
    n = 60
    shard = _shard(tmp_path, n, seed=8)
    ras = read_parquet(shard)["RA"].round(9).tolist()
    dropped, slow = set(ras[20:60:10]), set(ras[25:60:10])
    seen: set[float] = set()

    def service(params):
        ra = round(float(params["ra"]), 9)
        if ra in dropped and ra not in seen:
            seen.add(ra)
            time.sleep(6.0)
        if ra in slow:
            time.sleep(0.8)
        return synthetic_cutout_service(params)

    server = fault_server(cutout=service, plan=FaultPlan(latency_s=0.02))
    start = time.monotonic()
    manifest = _fetch(server, shard, tmp_path, timeout=5.0, concurrency=4)
    assert time.monotonic() - start < 5.0  # no attempt waited out the client timeout
    assert (manifest["status"] == "ok").all()
    attempts = dict(zip(manifest["object_id"], manifest["attempts"], strict=True))
    by_ra = dict(zip(ras, manifest["object_id"], strict=True))
    assert {attempts[by_ra[ra]] for ra in dropped | slow} == {2}
    assert sum(attempts.values()) == n + len(dropped) + len(slow) == server.stats.total_requests


def test_dead_server_stops_the_download_not_every_object(tmp_path, fault_server):  # noqa: F811
    shard = _shard(tmp_path, 200, seed=9)
    plan = FaultPlan(rate=1.0, kinds=("500",), max_faults_per_key=10**6)
    server = fault_server(cutout=synthetic_cutout_service, plan=plan)
    with pytest.raises(IncompleteDownload, match="200 of 200 cutouts not downloaded"):
        _fetch(server, shard, tmp_path, retries=2, concurrency=4)
    # the circuit opens after (retries + 1) rounds of failures on all 4 connections
    # (plus the attempts already in flight), not after 200 x 3 attempts
    assert 12 <= server.stats.total_requests <= 12 + 4
    assert not (tmp_path / "manifest.parquet").exists()
