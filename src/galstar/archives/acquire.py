"""Acquisition stage: what the ``fetch_*`` rules call, for the mock and the live archive.

Only the source of the bytes differs between ``archive: mock`` and ``archive: live``;
validation, caching, retries and the manifest are the same code (:mod:`.http`).
"""

from __future__ import annotations

import hashlib
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
from astropy.table import Table

from galstar.archives.http import Download, RetryPolicy, TokenBucket, download_all, download_file
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
    "MOCK_GALSPEC",
    "mock_root_of",
    "cache_dir_of",
    "cutout_source_key",
    "PERMANENT_PREFIXES",
    "read_mock_mpajhu",
    "fetch_mpajhu",
    "fetch_dr9_sweeps",
    "cutout_source",
    "fetch_cutouts",
]

log = logging.getLogger(__name__)

#: Columns of ``resources/{archive}/cutouts/shard-XXX.parquet``, in order.
MANIFEST_COLUMNS = ["object_id", "ra", "dec", "path", "status", "reject_reason", "sha256",
                    "attempts"]
#: Reasons that mean "the archive has nothing valid for this object": recorded, not raised.
PERMANENT_PREFIXES = ("out_of_footprint", "non_finite", "http_4")


#: Where the mock archive keeps its MPA-JHU table, relative to its root.
MOCK_GALSPEC = Path("skyserver") / "galSpec.fits"


def mock_root_of(galspec_path: str | os.PathLike) -> Path:
    """The mock archive root, from the path of its ``skyserver/galSpec.fits``."""
    path = Path(galspec_path)
    if path.parts[-2:] != MOCK_GALSPEC.parts:
        raise ValueError(f"{path} is not <mock root>/{MOCK_GALSPEC}")
    return path.parents[1]


def cache_dir_of(manifest_path: str | os.PathLike) -> Path:
    """``resources/{archive}/cutouts/cache/shard-XXX`` for manifest ``.../shard-XXX.parquet``."""
    path = Path(manifest_path)
    return path.parent / "cache" / path.stem


class IncompleteDownload(RuntimeError):
    """Some objects failed for reasons that a later attempt may fix (the rule retries)."""


def _retry_policy(max_retries: int, backoff_s: float) -> RetryPolicy:
    return RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))


def read_mock_mpajhu(path: str | os.PathLike) -> pd.DataFrame:
    """Read the mock archive's ``skyserver/galSpec.fits`` as a DataFrame.

    Text columns are stripped ``str``, numbers native-endian; ``specObjID`` is int64.
    """
    try:
        table = Table.read(path, hdu=1, format="fits", character_as_bytes=False)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot read the mock MPA-JHU table {path}: {err}") from err
    frame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].astype(str).str.strip()
    if "specObjID" not in frame.columns:
        raise KeyError(f"{path}: no specObjID column")
    frame["specObjID"] = frame["specObjID"].astype(np.int64)
    return frame


def fetch_mpajhu(archive: str, out_path: str | os.PathLike, *,
                 mock_table: str | os.PathLike | None = None, url: str | None = None,
                 data_release: int = 17, page_rows: int = 200_000, push_cuts: bool = True,
                 sn_median_r_min: float | None = None, timeout_s: float = 60.0,
                 max_retries: int = 8, backoff_s: float = 1.0,
                 rate_per_s: float | None = None, seed: int = 0) -> int:
    """Write ``resources/{archive}/mpajhu.parquet``; return the number of rows.

    Parameters
    ----------
    archive : {"mock", "live"}
        Where rows come from: the mock archive's ``galSpec.fits`` (``mock_table``), or
        SkyServer at ``url`` in pages of ``page_rows``, written page by page so memory
        holds one page.
    out_path : path
        Parquet output (written atomically).
    push_cuts, sn_median_r_min
        live: select in SQL (see :func:`galstar.archives.skyserver.mpajhu_where`).
    timeout_s, max_retries, backoff_s, rate_per_s, seed
        Download settings (config ``download``).

    Raises
    ------
    RuntimeError
        live: when the rows received differ from the server's ``COUNT(*)``.
    """
    if archive == "mock":
        if mock_table is None:
            raise ValueError("archive 'mock' needs mock_table (the mock galSpec.fits)")
        frame = read_mock_mpajhu(mock_table)
        write_parquet(frame, out_path)
        log.info("MPA-JHU (mock): %d rows from %s", len(frame), mock_table)
        return len(frame)
    if archive != "live":
        raise ValueError(f"config key 'archive' must be mock or live, got {archive!r}")
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


def fetch_dr9_sweeps(archive: str, mpajhu_path: str | os.PathLike,
                     out_list: str | os.PathLike, *, regions: Sequence[str] = ("north", "south"),
                     mock_root: str | os.PathLike | None = None, base_url: str | None = None,
                     version: str = "9.0", dest_dir: str | os.PathLike | None = None,
                     concurrency: int = 2, rate_per_s: float | None = None,
                     timeout_s: float = 60.0, max_retries: int = 8, backoff_s: float = 1.0,
                     seed: int = 0) -> list[str]:
    """Write ``dr9_sweeps.txt``: one local sweep file per line, covering MPA-JHU.

    The boxes are those holding at least one MPA-JHU position; for each region a box
    is listed if the archive has it (mock: the file exists under
    ``<mock_root>/dr9/<region>/sweep/``; live: downloaded resumably to
    ``<dest_dir>/<region>/sweep/<name>`` and validated; a 404 means the region has
    no such box). ``dest_dir`` defaults to ``dr9/`` beside ``out_list``.

    Returns
    -------
    list of str
        The listed paths.

    Raises
    ------
    IncompleteDownload
        live: a sweep file could not be fetched for a reason other than 404.
    ValueError
        When no sweep file covers the footprint.
    """
    names = _footprint_names(mpajhu_path)
    wanted = [(region, name) for region in regions for name in names]
    paths: list[str] = []
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        for region, name in wanted:
            path = Path(mock_root) / "dr9" / region / "sweep" / name
            if path.is_file():
                paths.append(str(path))
    elif archive == "live":
        if not base_url:
            raise ValueError("archive 'live' needs the config key live.legacysurvey.sweep_url")
        dest_dir = Path(out_list).parent / "dr9" if dest_dir is None else Path(dest_dir)
        policy = _retry_policy(max_retries, backoff_s)
        bucket = TokenBucket(rate_per_s)
        validate = partial(validate_fits_table, required=SWEEP_REQUIRED_COLUMNS)

        def one(item: tuple[str, str]):
            region, name = item
            dest = Path(dest_dir) / region / "sweep" / name
            return download_file(sweep_url(base_url, region, name, version), dest, validate,
                                 timeout=timeout_s, policy=policy, bucket=bucket, seed=seed)

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            outcomes = list(pool.map(one, wanted))
        failed = [o for o in outcomes if o.status != "ok" and o.reject_reason != "http_404"]
        if failed:
            raise IncompleteDownload(
                f"{len(failed)} of {len(wanted)} sweep files not downloaded, first "
                f"{failed[0].key}: {failed[0].reject_reason}")
        paths = [o.path for o in outcomes if o.status == "ok"]
    else:
        raise ValueError(f"config key 'archive' must be mock or live, got {archive!r}")
    if not paths:
        raise ValueError(f"no DR9 sweep file in regions {list(regions)} covers the "
                         f"{len(names)} boxes of the MPA-JHU footprint ({names[:3]} ...)")
    with atomic_path(out_list) as tmp:
        tmp.write_text("".join(f"{p}\n" for p in paths))
    log.info("DR9 sweeps: %d files for %d footprint boxes", len(paths), len(names))
    return paths


def cutout_source(archive: str, *, layer: str = "ls-dr9", pixscale: float = 0.262,
                  bands: str = "grz", size: int = 152,
                  mock_root: str | os.PathLike | None = None, cutout_url: str | None = None,
                  timeout_s: float = 60.0) -> Callable[[float, float], bytes]:
    """Return ``fetch(ra, dec) -> bytes`` for the archive's cutout service.

    mock: :class:`galstar.archives.mock.MockCutoutService` in-process; live: the Legacy
    Survey ``fits-cutout`` service at ``cutout_url``.
    """
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs mock_root (config key mock.root)")
        from galstar.archives.mock import MockCutoutService  # only the mock needs GalSim

        service = MockCutoutService(mock_root)
        return partial(_mock_fetch, service, size=size, pixscale=pixscale, bands=bands,
                       layer=layer)
    if archive == "live":
        if not cutout_url:
            raise ValueError("archive 'live' needs live.legacysurvey.cutout_url")
        return LegacySurveyCutouts(cutout_url, layer, pixscale, bands, size,
                                   timeout_s).fits_bytes
    raise ValueError(f"config key 'archive' must be mock or live, got {archive!r}")


def cutout_source_key(archive: str, *, layer: str = "ls-dr9", pixscale: float = 0.262,
                      bands: str = "grz", size: int = 152,
                      mock_root: str | os.PathLike | None = None,
                      cutout_url: str | None = None) -> dict[str, object]:
    """What the cached cutouts of :func:`fetch_cutouts` are a function of.

    The request (layer, pixel scale, bands, size) and where it goes: the service URL,
    or for the mock the archive's catalogue files and the code that renders from them
    (a regenerated mock serves other pixels under the same positions).
    """
    key: dict[str, object] = {"archive": archive, "layer": layer, "pixscale": float(pixscale),
                              "bands": bands, "size": int(size)}
    if archive == "live":
        key["cutout_url"] = cutout_url
    elif mock_root is not None:
        import galstar.archives.mock as renderer
        import galstar.simulate as simulate

        digest = hashlib.sha256()
        code = sorted(Path(simulate.__file__).parent.glob("*.py"))
        for path in [Path(mock_root) / "manifest.json", Path(mock_root) / "universe.parquet",
                     Path(renderer.__file__), *code]:
            digest.update(path.read_bytes())
        key["mock_sha256"] = digest.hexdigest()
    return key


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


def _mock_fetch(service, ra: float, dec: float, **kwargs) -> bytes:
    return service.fits_bytes(ra, dec, **kwargs)


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
        ``results/catalog/shards/shard-XXX.parquet`` (object_id, RA, DEC).
    cache_dir : path or None
        ``resources/{archive}/cutouts/cache/shard-XXX`` (None: :func:`cache_dir_of`).
    manifest_path : path
        ``resources/{archive}/cutouts/shard-XXX.parquet`` (columns
        :data:`MANIFEST_COLUMNS`).
    source : callable
        ``source(ra, dec) -> bytes`` (:func:`cutout_source`).
    size, bands
        What a valid cutout must be.
    concurrency, rate_per_s, max_retries, backoff_s, seed, progress
        Download settings; ``rate_per_s=None`` for the in-process mock.
    source_key : dict, optional
        :func:`cutout_source_key` of ``source``, recorded in the cache
        (``source.json``); cutouts cached under another key are removed first.

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
        "path": [o.path for o in outcomes],
        "status": [o.status for o in outcomes],
        "reject_reason": [o.reject_reason for o in outcomes],
        "sha256": [o.sha256 for o in outcomes],
        "attempts": np.array([o.attempts for o in outcomes], dtype=np.int32),
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


