"""Acquisition stage: the live downloads, and the steps every archive shares.

The source of the bytes is passed in (a callable), so that validation, caching,
retries and the manifest are the same code (:mod:`.http`) whatever serves them; the
choice of source per data product is made once, in :mod:`galstar.mock.sources`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from galstar.archives.bulk import Download, download_all
from galstar.archives.http import (
    RetryPolicy,
    TokenBucket,
    download_file,
    outcome_columns,
)
from galstar.archives.legacysurvey import (
    SWEEP_REQUIRED_COLUMNS,
    LegacySurveyCutouts,
    sweep_names_covering,
    sweep_url,
)
from galstar.archives.skyserver import (
    SkyServerSQL,
    arrow_page,
    iter_mpajhu_pages,
    mpajhu_count_sql,
    mpajhu_where,
)
from galstar.archives.validate import validate_cutout, validate_fits_table
from galstar.io import atomic_path, read_parquet, write_parquet

__all__ = [
    "IncompleteDownload",
    "MANIFEST_COLUMNS",
    "cache_dir_of",
    "PERMANENT_PREFIXES",
    "fetch_mpajhu_live",
    "list_dr9_sweeps",
    "live_sweep_source",
    "live_cutout_source",
    "fetch_cutouts",
]

log = logging.getLogger(__name__)

#: Columns of ``resources/{archive}/cutouts/shard-XXX.parquet``, in order.
MANIFEST_COLUMNS = ["object_id", "ra", "dec", "path", "status", "reject_reason", "sha256",
                    "attempts"]
#: Reasons that mean "the archive has nothing valid for this object": recorded, not raised.
PERMANENT_PREFIXES = ("out_of_footprint", "non_finite", "http_4")



def cache_dir_of(manifest_path: str | os.PathLike) -> Path:
    """``resources/{archive}/cutouts/cache/shard-XXX`` for manifest ``.../shard-XXX.parquet``."""
    path = Path(manifest_path)
    return path.parent / "cache" / path.stem


class IncompleteDownload(RuntimeError):
    """Some objects failed for reasons that a later attempt may fix (the rule retries)."""


def _retry_policy(max_retries: int, backoff_s: float) -> RetryPolicy:
    return RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))


def fetch_mpajhu_live(out_path: str | os.PathLike, *, url: str | None,
                      data_release: int = 17, page_rows: int = 200_000,
                      push_cuts: bool = True, sn_median_r_min: float | None = None,
                      timeout_s: float = 60.0, max_retries: int = 8, backoff_s: float = 1.0,
                      rate_per_s: float | None = None, seed: int = 0) -> int:
    """Write ``resources/live/mpajhu.parquet`` from SkyServer; return the number of rows.

    Rows are requested from SkyServer at ``url`` in pages of ``page_rows`` and written
    page by page, so memory holds one page.

    Parameters
    ----------
    out_path : path
        Parquet output (written atomically).
    url, data_release
        SkyServer SQL endpoint (config ``live.skyserver``).
    push_cuts, sn_median_r_min
        Select in SQL (see :func:`galstar.archives.skyserver.mpajhu_where`).
    timeout_s, max_retries, backoff_s, rate_per_s, seed
        Download settings (config ``download``).

    Raises
    ------
    RuntimeError
        When the rows received differ from the server's ``COUNT(*)``.
    """
    if not url:
        raise ValueError("archive 'live' needs the config key live.skyserver.url")
    client = SkyServerSQL(url, data_release, timeout_s, _retry_policy(max_retries, backoff_s),
                          rate_per_s, seed)
    where = mpajhu_where(push_cuts, sn_median_r_min)
    expected = client.count(mpajhu_count_sql(where))
    n_rows = 0
    with atomic_path(out_path) as tmp:
        writer = None
        try:
            for page in iter_mpajhu_pages(client, page_rows, where):
                batch = arrow_page(page)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, batch.schema)
                writer.write_table(batch)
                n_rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if n_rows != expected:
            raise RuntimeError(f"SkyServer at {url}: received {n_rows} MPA-JHU rows, "
                               f"COUNT(*) says {expected}; not writing {out_path}")
        if writer is None:
            raise RuntimeError(f"SkyServer at {url}: the MPA-JHU selection is empty ({where})")
    log.info("MPA-JHU (live): %d rows in %d requests", n_rows, client.requests)
    return n_rows


def _footprint_names(mpajhu_path: str | os.PathLike) -> list[str]:
    frame = read_parquet(mpajhu_path, columns=["ra", "dec"])
    if frame.empty:
        raise ValueError(f"{mpajhu_path}: no MPA-JHU rows, so no sweep footprint")
    return sweep_names_covering(frame["ra"].to_numpy(), frame["dec"].to_numpy())


def live_sweep_source(dest_dir: str | os.PathLike, *, base_url: str | None,
                      version: str = "9.0", concurrency: int = 2,
                      rate_per_s: float | None = None, timeout_s: float = 60.0,
                      max_retries: int = 8, backoff_s: float = 1.0, seed: int = 0
                      ) -> Callable[[Sequence[tuple[str, str]]], list[str]]:
    """``locate(wanted) -> paths`` for :func:`list_dr9_sweeps`, from the live archive.

    Each ``(region, name)`` is downloaded resumably to
    ``<dest_dir>/<region>/sweep/<name>`` and validated; a 404 means the region has no
    such box (not listed).

    Raises
    ------
    IncompleteDownload
        (from ``locate``) a sweep file could not be fetched for a reason other than 404.
    """
    if not base_url:
        raise ValueError("archive 'live' needs the config key live.legacysurvey.sweep_url")
    policy = _retry_policy(max_retries, backoff_s)
    bucket = TokenBucket(rate_per_s)
    validate = partial(validate_fits_table, required=SWEEP_REQUIRED_COLUMNS)

    def one(item: tuple[str, str]):
        region, name = item
        dest = Path(dest_dir) / region / "sweep" / name
        return download_file(sweep_url(base_url, region, name, version), dest, validate,
                             timeout=timeout_s, policy=policy, bucket=bucket, seed=seed)

    def locate(wanted: Sequence[tuple[str, str]]) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            outcomes = list(pool.map(one, wanted))
        failed = [o for o in outcomes if o.status != "ok" and o.reject_reason != "http_404"]
        if failed:
            raise IncompleteDownload(
                f"{len(failed)} of {len(wanted)} sweep files not downloaded, first "
                f"{failed[0].key}: {failed[0].reject_reason}")
        return [o.path for o in outcomes if o.status == "ok"]

    return locate


def list_dr9_sweeps(mpajhu_path: str | os.PathLike, out_list: str | os.PathLike,
                    locate: Callable[[Sequence[tuple[str, str]]], list[str]], *,
                    regions: Sequence[str] = ("north", "south")) -> list[str]:
    """Write ``dr9_sweeps.txt``: one local sweep file per line, covering MPA-JHU.

    The boxes are those holding at least one MPA-JHU position; for each region a box
    is listed if ``locate`` finds it.

    Parameters
    ----------
    mpajhu_path : path
        The fetched MPA-JHU table (its ``ra``, ``dec`` are the footprint).
    out_list : path
        The list to write (atomically).
    locate : callable
        ``locate([(region, name), ...]) -> [local path, ...]`` of the files the archive
        has (:func:`live_sweep_source`, or the mock's).
    regions : sequence of str
        DR9 regions to look in.

    Returns
    -------
    list of str
        The listed paths.

    Raises
    ------
    ValueError
        When no sweep file covers the footprint.
    """
    names = _footprint_names(mpajhu_path)
    wanted = [(region, name) for region in regions for name in names]
    paths = list(locate(wanted))
    if not paths:
        raise ValueError(f"no DR9 sweep file in regions {list(regions)} covers the "
                         f"{len(names)} boxes of the MPA-JHU footprint ({names[:3]} ...)")
    with atomic_path(out_list) as tmp:
        tmp.write_text("".join(f"{p}\n" for p in paths))
    log.info("DR9 sweeps: %d files for %d footprint boxes", len(paths), len(names))
    return paths


def live_cutout_source(*, layer: str = "ls-dr9", pixscale: float = 0.262,
                       bands: str = "grz", size: int = 152, cutout_url: str | None = None,
                       timeout_s: float = 60.0) -> Callable[[float, float], bytes]:
    """``fetch(ra, dec) -> bytes`` from the Legacy Survey ``fits-cutout`` service."""
    if not cutout_url:
        raise ValueError("archive 'live' needs live.legacysurvey.cutout_url")
    return LegacySurveyCutouts(cutout_url, layer, pixscale, bands, size, timeout_s).fits_bytes


def _claim_cache(cache: Path, source_key: dict[str, object]) -> None:
    """Make ``cache`` hold cutouts of ``source_key`` only: files cached from another
    source (a changed request, a regenerated mock) are removed, never served."""
    stamp = cache / "source.json"
    wanted = json.dumps(source_key, sort_keys=True)
    recorded = stamp.read_text() if stamp.exists() else None
    if recorded == wanted:
        return
    stale = sorted(cache.glob("*.fits"))
    if stale:
        previous = "unrecorded" if recorded is None else json.loads(recorded)
        log.warning("%s: %d cached cutouts came from another source (%s, now %s); "
                    "removed, they are fetched again", cache, len(stale), previous,
                    source_key)
        for path in stale:
            path.unlink()
    with atomic_path(stamp) as tmp:
        tmp.write_text(wanted)


def fetch_cutouts(shard_table: str | os.PathLike, cache_dir: str | os.PathLike | None,
                  manifest_path: str | os.PathLike, source: Callable[[float, float], bytes],
                  *, size: int = 152, bands: str = "grz", concurrency: int = 8,
                  rate_per_s: float | None = 10.0, max_retries: int = 8,
                  backoff_s: float = 1.0, seed: int = 0, progress: bool = True,
                  source_key: dict[str, object] | None = None) -> pd.DataFrame:
    """Fetch, validate and cache the cutouts of one shard; write its manifest.

    Cutouts are requested at the DR9 position (``RA``, ``DEC``) of each object and
    cached as ``<cache_dir>/<object_id>.fits``; valid cached files are not fetched
    again, so a half-done shard continues where it stopped.

    Parameters
    ----------
    shard_table : path
        ``results/galaxies/catalog/shards/shard-XXX.parquet`` (object_id, RA, DEC).
    cache_dir : path or None
        ``resources/{archive}/cutouts/cache/shard-XXX`` (None: :func:`cache_dir_of`).
    manifest_path : path
        ``resources/{archive}/cutouts/shard-XXX.parquet`` (columns
        :data:`MANIFEST_COLUMNS`).
    source : callable
        ``source(ra, dec) -> bytes`` (:func:`live_cutout_source`, or the mock's).
    size, bands
        What a valid cutout must be.
    concurrency, rate_per_s, max_retries, backoff_s, seed, progress
        Download settings; ``rate_per_s=None`` for the in-process mock.
    source_key : dict, optional
        The identity of ``source`` (JSON-serialisable; what its cutouts are a function
        of), recorded in the cache (``source.json``); cutouts cached under another key
        are removed first.

    Returns
    -------
    pandas.DataFrame
        The manifest.

    Raises
    ------
    IncompleteDownload
        When objects failed for reasons a retry may fix (out of retries on 5xx,
        timeouts, corrupt bodies). Valid files stay cached, so the rule's next attempt
        only fetches the rest. Permanent rejects (out of footprint, 404) are recorded.
    """
    table = read_parquet(shard_table)
    missing = [c for c in ("object_id", "RA", "DEC") if c not in table.columns]
    if missing:
        raise KeyError(f"{shard_table}: missing column(s) {missing}")
    if table["object_id"].duplicated().any():
        dup = table.loc[table["object_id"].duplicated(), "object_id"].iloc[0]
        raise ValueError(f"{shard_table}: object_id {dup} appears more than once")
    cache = cache_dir_of(manifest_path) if cache_dir is None else Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    if source_key is not None:
        _claim_cache(cache, source_key)
    ids = table["object_id"].to_numpy(np.int64)
    ras = table["RA"].to_numpy(np.float64)
    decs = table["DEC"].to_numpy(np.float64)
    tasks = [Download(int(oid), cache / f"{int(oid)}.fits", partial(source, float(ra), float(de)))
             for oid, ra, de in zip(ids, ras, decs, strict=True)]
    outcomes = download_all(
        tasks, partial(validate_cutout, size=int(size), bands=bands),
        concurrency=concurrency, rate_per_s=rate_per_s,
        policy=_retry_policy(max_retries, backoff_s), seed=seed, progress=progress,
        desc=f"cutouts {Path(manifest_path).stem}",
    )
    manifest = pd.DataFrame({
        "object_id": ids,
        "ra": ras,
        "dec": decs,
        **outcome_columns(outcomes),
    })
    retryable = manifest[(manifest["status"] != "ok")
                         & ~manifest["reject_reason"].str.startswith(PERMANENT_PREFIXES)]
    if len(retryable):
        first = retryable.iloc[0]
        raise IncompleteDownload(
            f"{shard_table}: {len(retryable)} of {len(manifest)} cutouts not downloaded "
            f"(first object_id {first['object_id']}: {first['reject_reason']}); "
            f"{int((manifest['status'] == 'ok').sum())} valid files are cached in {cache}")
    write_parquet(manifest, manifest_path)
    return manifest


