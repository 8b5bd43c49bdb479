"""The MPA-JHU DR7 flat files (``gal_info_dr7_v5_2``, ``gal_totsfr_dr7_v5_2``), live.

The files are row-aligned: row i of ``gal_totsfr`` (MEDIAN, P2P5, P16, P84, P97P5,
MODE, AVG, ENTROPY, FLAG of the total-SFR PDF, log10 Msun/yr) belongs to the spectrum
in row i of ``gal_info`` (PLATEID, MJD, FIBERID, RA, DEC, Z, ...). They are served by
MPA's SDSS DR7 pages (check the address and the names, ``.fits`` or ``.fit.gz``, before
wiring them into a live config). Downloads stream to disk and resume; a file is kept
only when it is complete FITS (plain or gzip) with the columns below, and the pair only
when the row counts agree.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.archives.http import RetryPolicy, TokenBucket, download_file
from galstar.archives.validate import Rejected, _check_complete, _check_magic

__all__ = ["GAL_INFO_REQUIRED", "GAL_TOTSFR_REQUIRED", "DEFAULT_NAMES", "validate_dr7_file",
           "fetch_mpajhu_dr7", "read_dr7_sfr", "MANIFEST_COLUMNS"]

GAL_INFO_REQUIRED = ["PLATEID", "MJD", "FIBERID", "RA", "DEC", "Z"]
GAL_TOTSFR_REQUIRED = ["MEDIAN", "P2P5", "P16", "P84", "P97P5", "MODE", "AVG", "ENTROPY",
                       "FLAG"]
#: File names on the server, per product (config may override, e.g. ``.fit.gz``).
DEFAULT_NAMES = {"gal_info": "gal_info_dr7_v5_2.fits",
                 "gal_totsfr": "gal_totsfr_dr7_v5_2.fits"}
MANIFEST_COLUMNS = ["product", "url", "path", "status", "reject_reason", "sha256",
                    "attempts", "n_rows"]
_REQUIRED = {"gal_info": GAL_INFO_REQUIRED, "gal_totsfr": GAL_TOTSFR_REQUIRED}


def validate_dr7_file(path: str | os.PathLike, required: list[str]) -> int:
    """Validate one flat file on disk (plain or gzip-compressed FITS); return its rows.

    Raises
    ------
    Rejected
        ``html_page``, ``not_fits``, ``truncated`` (retried); ``missing_columns``
        (permanent).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(2880)
    try:
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                data = gz.read()  # the DR7 tables are tens of MB: fine in memory
            _check_magic(data[:2880])
            buffer = io.BytesIO(data)
            _check_complete(buffer, len(data), 2)
            hdul = fits.open(buffer)
        else:
            _check_magic(head)
            with open(path, "rb") as fh:
                _check_complete(fh, path.stat().st_size, 2)
            hdul = fits.open(path, memmap=True)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise Rejected(f"truncated: gzip stream ({err})") from None
    except Rejected:
        raise
    except (OSError, ValueError, TypeError) as err:
        raise Rejected(f"not_fits: {err}") from None
    with hdul:
        if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
            raise Rejected("not_fits: no binary table in HDU 1")
        names = {c.upper() for c in hdul[1].columns.names}
        missing = [c for c in required if c not in names]
        if missing:
            raise Rejected(f"missing_columns: {missing}", permanent=True)
        return int(hdul[1].header["NAXIS2"])


def fetch_mpajhu_dr7(dest_dir: str | os.PathLike, *, base_url: str,
                     names: dict[str, str] | None = None, timeout_s: float = 120.0,
                     max_retries: int = 8, backoff_s: float = 1.0,
                     rate_per_s: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Download and validate ``gal_info`` and ``gal_totsfr`` into ``dest_dir``.

    Parameters
    ----------
    dest_dir : path
        Where the files are kept (under their server names); valid files are not
        fetched again.
    base_url : str
        Directory holding both files (config ``live.mpajhu_dr7.url``).
    names : dict, optional
        Server file names per product (default :data:`DEFAULT_NAMES`).
    timeout_s, max_retries, backoff_s, rate_per_s, seed
        Download settings (config ``download``).

    Returns
    -------
    pandas.DataFrame
        One row per product (:data:`MANIFEST_COLUMNS`).

    Raises
    ------
    RuntimeError
        When a file cannot be had (the reason is named), or the two files' row counts
        differ (they must be row-aligned).
    """
    if not base_url:
        raise ValueError("archive 'live' needs the config key live.mpajhu_dr7.url")
    names = {**DEFAULT_NAMES, **(names or {})}
    policy = RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))
    bucket = TokenBucket(rate_per_s)
    rows = []
    for product in ("gal_info", "gal_totsfr"):
        url = f"{base_url.rstrip('/')}/{names[product]}"
        dest = Path(dest_dir) / names[product]
        required = _REQUIRED[product]
        outcome = download_file(url, dest, lambda p, r=required: validate_dr7_file(p, r),
                                timeout=timeout_s, policy=policy, bucket=bucket, seed=seed)
        n_rows = validate_dr7_file(dest, required) if outcome.status == "ok" else -1
        rows.append({"product": product, "url": url, "path": outcome.path,
                     "status": outcome.status, "reject_reason": outcome.reject_reason,
                     "sha256": outcome.sha256, "attempts": outcome.attempts,
                     "n_rows": n_rows})
    manifest = pd.DataFrame(rows)[MANIFEST_COLUMNS]
    failed = manifest[manifest["status"] != "ok"]
    if len(failed):
        raise RuntimeError("MPA-JHU DR7: " + "; ".join(
            f"{r.url}: {r.reject_reason}" for r in failed.itertuples()))
    if manifest["n_rows"].nunique() != 1:
        raise RuntimeError(f"MPA-JHU DR7: {names['gal_info']} has {manifest['n_rows'][0]} "
                           f"rows, {names['gal_totsfr']} {manifest['n_rows'][1]}: "
                           "not row-aligned")
    return manifest


def _native(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "SU":
        return np.char.strip(values.astype(str))
    return values.astype(values.dtype.newbyteorder("="))


def read_dr7_sfr(gal_info: str | os.PathLike, gal_totsfr: str | os.PathLike) -> pd.DataFrame:
    """The pair as one table: ``plateid, mjd, fiberid, ra, dec, z`` and
    ``sfr_tot_{median,p2p5,p16,p84,p97p5,mode,avg,entropy,flag}`` (sentinels kept).

    Raises
    ------
    ValueError
        When the files' row counts differ (names both files).
    """
    with fits.open(gal_info, memmap=True) as a, fits.open(gal_totsfr, memmap=True) as b:
        info, sfr = a[1].data, b[1].data
        if len(info) != len(sfr):
            raise ValueError(f"{gal_info} ({len(info)} rows) and {gal_totsfr} "
                             f"({len(sfr)} rows) are not row-aligned")
        out = {c.lower(): _native(info[c]) for c in GAL_INFO_REQUIRED}
        out["plateid"] = out["plateid"].astype(np.int32)
        out["mjd"] = out["mjd"].astype(np.int32)
        out["fiberid"] = out["fiberid"].astype(np.int32)
        for c in GAL_TOTSFR_REQUIRED:
            out[f"sfr_tot_{c.lower()}"] = _native(sfr[c])
    return pd.DataFrame(out)
