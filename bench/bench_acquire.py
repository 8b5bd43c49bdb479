"""Acquisition benchmark: cutout download throughput and cross-match throughput.

Writes ``results/benchmarks/acquire.json``:

- ``cutouts``: the live cutout client and the shared downloader (validation, sha256,
  atomic cache writes, manifest) against the loopback server (in its own process, as a
  remote server would be) with a fixed latency per request. With ``concurrency``
  requests in flight and latency L, no client can beat ``concurrency / L`` requests per
  second; ``fraction_of_latency_bound`` is the measured
  throughput over that bound (1.0 = only the latency limits us). The server speaks
  HTTP/1.1 with persistent connections, as the Legacy Survey's does (each worker's
  pooled session keeps one open; a truncated body or a stall closes it);
  ``cutouts_with_5pct_faults`` faults 5% of the attempts (500, 429 with Retry-After,
  stalls past the client's timeout, truncated bodies with and without a length, HTML
  pages; a new schedule of faults each repeat), the faulted objects retried.
  ``cutouts_http10*``: the same against the test
  server's HTTP/1.0 (a new connection every request, as ``make bench`` measured before).
- ``crossmatch``: :func:`crossmatch_speed.benchmark_crossmatch` (streamed
  match of a synthetic sweep file), in objects per CPU second (= per core: the matcher
  is single threaded).

Run: ``.venv/bin/python bench/bench_acquire.py [--n-cutouts 480] [--latency-s 0.05]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the loopback fault server lives with the tests
sys.path.insert(0, str(REPO / "bench"))

from http_faults import FaultPlan, FaultServer, synthetic_cutout  # noqa: E402

from galstar.archives.acquire import fetch_cutouts  # noqa: E402
from galstar.io import atomic_path, write_parquet  # noqa: E402
from galstar.mock.sources import cutout_source  # noqa: E402


def _keep_alive_server() -> None:
    """Make the loopback server speak HTTP/1.1 with persistent connections, as the
    Legacy Survey's does (the test server's default, HTTP/1.0, closes every connection,
    so a client's keep-alive pool cannot be measured against it). A body cut short is
    a connection that dropped: the server closes it after a truncation fault, as after
    a stall. Like production servers on keep-alive connections (nginx's
    ``tcp_nodelay``), it sends without Nagle's delay: http.server writes the headers and
    a small body (a 500, a 429) in two sends, and the second would wait for the client's
    delayed ACK, 40 ms, on every short answer. Only in the server's own process."""
    import http_faults

    handler = http_faults._Handler
    handler.protocol_version = "HTTP/1.1"
    handler.disable_nagle_algorithm = True
    answer = handler._answer

    def closing_answer(self, fault, respond):
        if fault in ("truncated", "truncated_nolength", "timeout"):
            self.close_connection = True
        return answer(self, fault, respond)

    handler._answer = closing_answer


def _serve(plan: FaultPlan, size: int, urls, stop, stats, keep_alive: bool = True) -> None:
    """Server process: its own interpreter, so its CPU time is not the client's."""
    if keep_alive:
        _keep_alive_server()
    # A few distinct bodies of the real size, served round-robin (rendering is not timed).
    bodies = [synthetic_cutout(150.0 + i, 2.0, size=size) for i in range(16)]

    def answer(params: dict) -> bytes:
        return bodies[int(float(params["ra"]) * 1e6) % len(bodies)]

    with FaultServer(cutout=answer, plan=plan) as server:
        urls.put((server.cutout_url, len(bodies[0])))
        stop.wait()
        stats.put((server.stats.total_requests, server.stats.total_faults,
                   dict(server.stats.faults)))


def bench_cutouts(n: int, concurrency: int, latency_s: float, size: int,
                  fault_rate: float = 0.0, keep_alive: bool = True, fault_seed: int = 1) -> dict:
    """Download ``n`` cutouts through the loopback server; return throughput figures
    (``fault_seed`` draws which attempts are faulted)."""
    ctx = multiprocessing.get_context("fork")
    urls, stats, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    plan = FaultPlan(rate=fault_rate, latency_s=latency_s, seed=fault_seed, timeout_s=1.0)
    server = ctx.Process(target=_serve, args=(plan, size, urls, stop, stats, keep_alive),
                         daemon=True)
    server.start()
    try:
        cutout_url, body_bytes = urls.get(timeout=60)
        with tempfile.TemporaryDirectory() as tmp:
            rng = np.random.default_rng(0)
            shard = Path(tmp) / "shard-000.parquet"
            write_parquet(pd.DataFrame({"object_id": np.arange(n, dtype=np.int64),
                                        "RA": rng.uniform(150, 160, n),
                                        "DEC": rng.uniform(0, 5, n)}), shard)
            source = cutout_source("live", size=size, cutout_url=cutout_url, timeout_s=0.5)
            start = time.perf_counter()
            manifest = fetch_cutouts(shard, Path(tmp) / "cache", Path(tmp) / "manifest.parquet",
                                     source, size=size, bands="grz", concurrency=concurrency,
                                     rate_per_s=None, max_retries=8, backoff_s=0.01,
                                     progress=False)
            wall = time.perf_counter() - start
        stop.set()
        requests, faults, fault_kinds = stats.get(timeout=60)
    finally:
        stop.set()
        server.join(timeout=10)
    ok = int((manifest["status"] == "ok").sum())
    bound = concurrency / latency_s
    return {
        "n_objects": n,
        "n_ok": ok,
        "requests": requests,
        "faults": faults,
        "fault_kinds": fault_kinds,
        "fault_rate": fault_rate,
        "fault_seed": fault_seed,
        "server": "HTTP/1.1 keep-alive" if keep_alive else "HTTP/1.0 (a connection a request)",
        "concurrency": concurrency,
        "latency_s": latency_s,
        "cutout_size": size,
        "bytes_per_cutout": body_bytes,
        "wall_s": wall,
        "objects_per_s": ok / wall,
        "latency_bound_per_s": bound,
        "fraction_of_latency_bound": ok / wall / bound,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cutouts", type=int, default=480)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-s", type=float, default=0.05)
    parser.add_argument("--size", type=int, default=152)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n-mpa", type=int, default=100_000)
    parser.add_argument("--n-dr9", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "acquire.json"))
    args = parser.parse_args(argv)

    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "repeat": args.repeat,
        "timing": ("each case run `repeat` times, the cases alternating (a change of "
                   "machine load hits all), the faulted cases with a new fault schedule "
                   "each time (fault_seed 1, 2, ...: one schedule's luck, a stall in the "
                   "first round before any answer time is known, is not the figure); the "
                   "run with the median fraction is kept, the spread is "
                   "fraction_of_latency_bound_all"),
    }
    cases = {"cutouts": (0.0, True), "cutouts_with_5pct_faults": (0.05, True),
             "cutouts_http10": (0.0, False), "cutouts_http10_with_5pct_faults": (0.05, False)}
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for repeat in range(args.repeat):
        for name, (rate, keep_alive) in cases.items():
            runs[name].append(bench_cutouts(args.n_cutouts, args.concurrency, args.latency_s,
                                            args.size, rate, keep_alive, fault_seed=1 + repeat))
    for name, done in runs.items():
        fractions = [r["fraction_of_latency_bound"] for r in done]
        kept = dict(sorted(done, key=lambda r: r["fraction_of_latency_bound"])[len(done) // 2])
        kept["fraction_of_latency_bound_all"] = [round(f, 4) for f in fractions]
        result[name] = kept
    from crossmatch_speed import benchmark_crossmatch

    xm = benchmark_crossmatch(args.n_mpa, args.n_dr9, seed=3407)
    xm["objects_per_s_per_core"] = xm["dr9_rows_per_s_per_core"]
    result["crossmatch"] = xm
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    x = result["crossmatch"]
    for name in cases:
        c = result[name]
        print(f"{name}: {c['objects_per_s']:.1f}/s = {c['fraction_of_latency_bound']:.2f} of "
              f"the latency bound {c['latency_bound_per_s']:.0f}/s "
              f"(runs: {c['fraction_of_latency_bound_all']}, {c['server']})")
    if "objects_per_s_per_core" in x:
        print(f"cross-match: {x['objects_per_s_per_core']:.3g} DR9 objects/s/core "
              f"({x['mpa_rows_per_s_per_core']:.3g} MPA-JHU rows/s/core)")
    print(f"written: {args.out}")
    return result


if __name__ == "__main__":
    main()
