"""CARMENES spectra from a list of file addresses (public DR1 / CDS products).

CARACAL products are named ``car-<YYYYMMDDTHHhMMmSSs>-sci-gtoc-{vis,nir}_<fibre>.fits``:
an empty primary HDU whose header carries the observation (``OBJECT``, ``DATE-OBS``,
``HIERARCH CARACAL BERV`` ...), and image extensions ``SPEC``, ``CONT``, ``SIG``,
``WAVE`` of one row per order. Public derived products may instead hold one merged
BINTABLE with ``WAVE``, ``SPEC`` (and ``CONT``, ``SIG``) columns. Downloads stream to
disk and resume with HTTP ``Range`` (:func:`galstar.archives.http.download_file`).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.archives.http import RetryPolicy, TokenBucket, download_file, outcome_columns
from galstar.archives.validate import Rejected, _check_complete, _check_magic

__all__ = ["CARACAL_EXTENSIONS", "REQUIRED_EXTENSIONS", "MANIFEST_COLUMNS", "CaracalInfo",
           "carmenes_filename", "parse_carmenes_filename", "validate_caracal",
           "read_file_list", "fetch_carmenes"]

#: Image extensions of a CARACAL product, in the order CARACAL writes them.
CARACAL_EXTENSIONS = ("SPEC", "CONT", "SIG", "WAVE")
#: Without these a file is useless (CONT can be re-estimated).
REQUIRED_EXTENSIONS = ("SPEC", "SIG", "WAVE")
#: Columns of the download manifest, in order.
MANIFEST_COLUMNS = ["url", "path", "status", "reject_reason", "sha256", "attempts"]
_NAME = re.compile(r"^car-(\d{8}T\d{2}h\d{2}m\d{2}s)-sci-gtoc-(vis|nir)_([AB])(-tac)?\.fits$")


def carmenes_filename(stamp: str, arm: str, fibre: str = "A") -> str:
    """CARACAL product name.

    >>> carmenes_filename("20160520T03h10m13s", "vis")
    'car-20160520T03h10m13s-sci-gtoc-vis_A.fits'
    """
    if arm not in ("vis", "nir"):
        raise ValueError(f"CARMENES arm must be vis or nir, got {arm!r}")
    return f"car-{stamp}-sci-gtoc-{arm}_{fibre}.fits"


def parse_carmenes_filename(name: str) -> tuple[str, str, str]:
    """(time stamp, arm, fibre) of a CARACAL product name.

    Raises
    ------
    ValueError
        When ``name`` is not a CARACAL science product name.
    """
    match = _NAME.match(Path(name).name)
    if not match:
        raise ValueError(f"not a CARACAL product name: {name!r}")
    return match.group(1), match.group(2), match.group(3)


@dataclass(frozen=True)
class CaracalInfo:
    """What a valid file is: ``image`` (SPEC/CONT/SIG/WAVE) or ``table`` form, the
    (n_orders, n_px) shape of the image form (None for a table) and its ``OBJECT``."""

    form: str
    shape: tuple[int, int] | None
    object: str


def _inspect(hdul: fits.HDUList) -> CaracalInfo:
    names = {h.name.upper() for h in hdul[1:]}
    obj = str(hdul[0].header.get("OBJECT", "")).strip()
    if names & set(CARACAL_EXTENSIONS):
        missing = [e for e in REQUIRED_EXTENSIONS if e not in names]
        if missing:
            raise Rejected(f"missing_extension: {missing}", permanent=True)
        shapes = {e: hdul[e].data.shape if hdul[e].data is not None else None
                  for e in CARACAL_EXTENSIONS if e in names}
        if len(set(shapes.values())) != 1 or None in shapes.values():
            raise Rejected(f"bad_shape: extensions disagree {shapes}", permanent=True)
        shape = next(iter(shapes.values()))
        if len(shape) != 2:
            raise Rejected(f"bad_shape: {shape} (want orders x pixels)", permanent=True)
        wave = np.asarray(hdul["WAVE"].data)
        if not np.issubdtype(wave.dtype, np.floating):
            raise Rejected(f"bad_dtype: WAVE is {wave.dtype}", permanent=True)
        return CaracalInfo("image", (int(shape[0]), int(shape[1])), obj)
    if len(hdul) > 1 and isinstance(hdul[1], fits.BinTableHDU):
        cols = {c.upper() for c in hdul[1].columns.names}
        missing = [c for c in ("WAVE", "SPEC") if c not in cols]
        if missing:
            raise Rejected(f"missing_columns: {missing}", permanent=True)
        return CaracalInfo("table", None, obj)
    raise Rejected("missing_extension: no SPEC/SIG/WAVE images nor a spectrum table",
                   permanent=True)


def validate_caracal(path: str | os.PathLike) -> CaracalInfo:
    """Validate a downloaded CARMENES product on disk.

    Raises
    ------
    Rejected
        ``html_page``, ``not_fits``, ``truncated`` (retried), ``missing_extension``,
        ``missing_columns``, ``bad_shape`` or ``bad_dtype`` (permanent). A file of an
        unexpected but consistent shape is accepted: the shape filter downstream
        records it.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        _check_magic(fh.read(2880))
        n_hdus = _count_headers(path)
        _check_complete(fh, path.stat().st_size, n_hdus)
    try:
        with fits.open(path, memmap=False) as hdul:
            return _inspect(hdul)
    except Rejected:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
        raise Rejected(f"not_fits: {err}") from None


def _count_headers(path: Path) -> int:
    """Headers present (``XTENSION`` cards at block starts, plus the primary)."""
    count = 1
    with open(path, "rb") as fh:
        fh.seek(2880)
        while block := fh.read(2880):
            if block.startswith(b"XTENSION="):
                count += 1
    return count


def read_file_list(path: str | os.PathLike) -> list[str]:
    """Addresses from a file list: one URL per line; blank lines and ``#`` comments
    skipped.

    Raises
    ------
    ValueError
        When the list is empty or names one address twice (the file names it).
    """
    lines = Path(path).read_text().splitlines()
    urls = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not urls:
        raise ValueError(f"{path}: the CARMENES file list is empty")
    dup = pd.Series(urls)[pd.Series(urls).duplicated()]
    if len(dup):
        raise ValueError(f"{path}: address listed twice: {dup.iloc[0]}")
    return urls


def _dest_of(url: str, dest_dir: Path) -> Path:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if not parts:
        raise ValueError(f"CARMENES address without a file name: {url!r}")
    # keep the parent folder (a star's directory in most archives): names repeat across stars
    return dest_dir.joinpath(*parts[-2:]) if len(parts) > 1 else dest_dir / parts[-1]


def fetch_carmenes(urls: list[str], dest_dir: str | os.PathLike, *, concurrency: int = 4,
                   rate_per_s: float | None = 4.0, timeout_s: float = 120.0,
                   max_retries: int = 8, backoff_s: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Download and validate every CARMENES file of a list; valid ones are kept.

    Each address is cached under ``<dest_dir>/<parent folder>/<file name>`` (streamed,
    resumable, validated with :func:`validate_caracal`); valid cached files are not
    fetched again.

    Returns
    -------
    pandas.DataFrame
        One row per address (:data:`MANIFEST_COLUMNS`), in list order; permanent
        rejects (``http_404``, ``missing_extension`` ...) and files out of retries are
        ``failed`` with the reason.
    """
    dest = Path(dest_dir)
    paths = [_dest_of(u, dest) for u in urls]
    if len(set(paths)) != len(paths):
        raise ValueError("two CARMENES addresses map to the same cache file; "
                         "give them distinct folder/file names")
    policy = RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))
    bucket = TokenBucket(rate_per_s, burst=max(1, concurrency))

    def one(item: tuple[str, Path]):
        url, path = item
        return download_file(url, path, validate_caracal, timeout=timeout_s, policy=policy,
                             bucket=bucket, seed=seed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = list(pool.map(one, zip(urls, paths, strict=True)))
    return pd.DataFrame({
        "url": urls,
        **outcome_columns(outcomes),
    })[MANIFEST_COLUMNS]
