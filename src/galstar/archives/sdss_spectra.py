"""SDSS spectra from the Science Archive Server (SAS), by plate, MJD and fibre.

DR17 "lite" coadds of SDSS-I/II live at
``<base>/sas/dr17/sdss/spectro/redux/<run2d>/spectra/lite/<plate:04d>/
spec-<plate:04d>-<mjd:05d>-<fiber:04d>.fits`` (run2d 26, 103 or 104, from
``SpecObjAll.run2d``). A file is accepted when it is complete FITS with a ``COADD``
table (``flux``, ``loglam``, ``ivar``) and a one-row ``SPECOBJ`` (legacy) or ``SPALL``
(BOSS) table naming the plate, MJD and fibre asked for. Downloads stream to disk and
resume with HTTP ``Range`` (:func:`galstar.archives.http.download_file`). Data quality
(all pixels masked, NaN flux) is judged by preprocessing, which records its rejects.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.archives.http import RetryPolicy, TokenBucket, download_file, outcome_columns
from galstar.archives.validate import Rejected, _check_magic

__all__ = ["COADD_COLUMNS", "SpecFileInfo", "spec_filename", "sas_spectrum_path",
           "spectrum_url", "validate_spec_file", "fetch_sdss_spectra", "MANIFEST_COLUMNS"]

#: Columns of the ``COADD`` table of a DR8+ ``spec`` file, in the archive's order.
COADD_COLUMNS = ("flux", "loglam", "ivar", "and_mask", "or_mask", "wdisp", "sky", "model")
_REQUIRED_COADD = ("flux", "loglam", "ivar")
#: Columns of the download manifest, in order.
MANIFEST_COLUMNS = ["plate", "mjd", "fiberid", "url", "path", "status", "reject_reason",
                    "sha256", "attempts"]


@dataclass(frozen=True)
class SpecFileInfo:
    """What a valid file holds: its object, pixel count and object table name."""

    plate: int
    mjd: int
    fiberid: int
    n_pixels: int
    object_hdu: str  # SPECOBJ | SPALL


def spec_filename(plate: int, mjd: int, fiber: int) -> str:
    """``spec-PPPP-MMMMM-FFFF.fits``.

    >>> spec_filename(266, 51602, 13)
    'spec-0266-51602-0013.fits'
    """
    return f"spec-{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}.fits"


def sas_spectrum_path(plate: int, mjd: int, fiber: int, run2d: int | str = 26,
                      release: str = "dr17") -> str:
    """Path of a lite coadd under the SAS root (SDSS-I/II layout).

    >>> sas_spectrum_path(266, 51602, 13)
    'sas/dr17/sdss/spectro/redux/26/spectra/lite/0266/spec-0266-51602-0013.fits'
    """
    return (f"sas/{release}/sdss/spectro/redux/{run2d}/spectra/lite/{int(plate):04d}/"
            f"{spec_filename(plate, mjd, fiber)}")


def spectrum_url(base_url: str, plate: int, mjd: int, fiber: int, run2d: int | str = 26,
                 release: str = "dr17") -> str:
    """Address of a lite coadd on a SAS mirror (``base_url``: https://data.sdss.org)."""
    return f"{base_url.rstrip('/')}/{sas_spectrum_path(plate, mjd, fiber, run2d, release)}"


_TFORM_BYTES = {"L": 1, "X": 0.125, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8,
                "C": 8, "M": 16, "P": 8, "Q": 16}


def _read_header(fh) -> dict[str, str] | None:
    """The cards of one header as {keyword: value text} (strings unquoted), read block
    by block to its END card; None at a clean end of file. astropy's Header parser
    takes ~10 ms on a 261-card SPECOBJ header, this ~0.2 ms."""
    cards: dict[str, str] = {}
    first = True
    while True:
        block = fh.read(2880)
        if not block and first:
            return None
        if len(block) < 2880:
            raise Rejected(f"truncated: header block of {len(block)} bytes")
        first = False
        for i in range(0, 2880, 80):
            card = block[i:i + 80].decode("ascii", errors="replace")
            key = card[:8].strip()
            if key == "END":
                return cards
            if card[8:10] != "= ":
                continue
            text = card[10:].strip()
            if text.startswith("'"):
                end = text.find("'", 1)
                while end != -1 and text[end + 1:end + 2] == "'":  # escaped quote
                    end = text.find("'", end + 2)
                value = text[1:end].replace("''", "'").rstrip() if end != -1 else text[1:]
            else:
                value = text.split("/", 1)[0].strip()
            cards[key] = value


def _data_size(cards: dict[str, str]) -> int:
    naxis = int(cards.get("NAXIS", 0))
    if naxis == 0:
        return 0
    npix = 1
    for i in range(1, naxis + 1):
        npix *= int(cards[f"NAXIS{i}"])
    size = abs(int(cards["BITPIX"])) // 8 * int(cards.get("GCOUNT", 1)) * (
        int(cards.get("PCOUNT", 0)) + npix)
    return -(-size // 2880) * 2880


def _walk_headers(fh, nbytes: int) -> list[tuple[dict[str, str], int]]:
    """Every HDU's cards and data offset; a body shorter than its headers promise is
    ``truncated`` (checked before any data is read)."""
    out, pos = [], 0
    while pos < nbytes:
        fh.seek(pos)
        try:
            cards = _read_header(fh)
        except Rejected:
            raise
        except (ValueError, KeyError) as err:
            raise Rejected(f"not_fits: header of HDU {len(out)} ({err})") from None
        if cards is None:
            break
        start = fh.tell()
        try:
            pos = start + _data_size(cards)
        except (ValueError, KeyError) as err:
            raise Rejected(f"not_fits: HDU {len(out)} size ({err})") from None
        if nbytes < pos:
            raise Rejected(f"truncated: {nbytes} of {pos} bytes")
        out.append((cards, start))
    return out


def _column_offsets(header: dict[str, str]) -> dict[str, tuple[int, str]]:
    """Byte offset in a row and TFORM of each column of a binary-table header."""
    out, offset = {}, 0
    for i in range(1, int(header["TFIELDS"]) + 1):
        tform = header[f"TFORM{i}"].strip().upper()
        digits = len(tform) - len(tform.lstrip("0123456789"))
        repeat, code = int(tform[:digits] or 1), tform[digits:digits + 1]
        if code not in _TFORM_BYTES:
            raise Rejected(f"not_fits: column {i} has TFORM {tform!r}", permanent=True)
        out[header[f"TTYPE{i}"].strip().upper()] = (offset, code)
        offset += int(np.ceil(repeat * _TFORM_BYTES[code]))
    return out


def validate_spec_file(path: str | os.PathLike,
                       expect: tuple[int, int, int] | None = None) -> SpecFileInfo:
    """Validate a downloaded ``spec`` file on disk (headers and three numbers only, so
    ~1 ms a file; the 126-column ``SPECOBJ`` is never parsed as a table).

    Parameters
    ----------
    path : path
        The file.
    expect : (plate, mjd, fiber), optional
        The object asked for; a file of another object is a permanent reject.

    Raises
    ------
    Rejected
        ``html_page``, ``not_fits``, ``truncated`` (retried); ``missing_extension``
        (no ``COADD``, or neither ``SPECOBJ`` nor ``SPALL``), ``missing_columns``,
        ``wrong_object`` (permanent).
    """
    path = Path(path)
    nbytes = path.stat().st_size
    with open(path, "rb") as fh:
        _check_magic(fh.read(2880))
        hdus = _walk_headers(fh, nbytes)
        names = [h.get("EXTNAME", "PRIMARY").strip().upper() for h, _ in hdus]
        if "COADD" not in names:
            raise Rejected(f"missing_extension: no COADD in {names}", permanent=True)
        coadd = hdus[names.index("COADD")][0]
        if coadd.get("XTENSION", "") != "BINTABLE":
            raise Rejected("not_fits: COADD is not a binary table", permanent=True)
        cols = {c.lower() for c in _column_offsets(coadd)}
        missing = [c for c in _REQUIRED_COADD if c not in cols]
        if missing:
            raise Rejected(f"missing_columns: COADD lacks {missing}", permanent=True)
        obj = next((n for n in ("SPECOBJ", "SPALL") if n in names), None)
        if obj is None:
            raise Rejected("missing_extension: neither SPECOBJ nor SPALL", permanent=True)
        header, start = hdus[names.index(obj)]
        if int(header.get("NAXIS2", 0)) < 1:
            raise Rejected(f"missing_columns: {obj} has no row", permanent=True)
        offsets = _column_offsets(header)
        got = []
        for key in ("PLATE", "MJD", "FIBERID"):
            if key not in offsets:
                raise Rejected(f"missing_columns: {obj} lacks {key}", permanent=True)
            offset, code = offsets[key]
            if code not in "IJK":
                raise Rejected(f"bad_dtype: {obj}.{key} is {code}", permanent=True)
            fh.seek(start + offset)
            width = {"I": 2, "J": 4, "K": 8}[code]
            got.append(int.from_bytes(fh.read(width), "big", signed=True))
    got = tuple(got)
    if expect is not None and tuple(int(v) for v in expect) != got:
        raise Rejected(f"wrong_object: file holds {got}, asked for {tuple(expect)}",
                       permanent=True)
    return SpecFileInfo(*got, n_pixels=int(coadd["NAXIS2"]), object_hdu=obj)


def fetch_sdss_spectra(targets: pd.DataFrame, dest_dir: str | os.PathLike, *, base_url: str,
                       release: str = "dr17", concurrency: int = 4,
                       rate_per_s: float | None = 4.0, timeout_s: float = 60.0,
                       max_retries: int = 8, backoff_s: float = 1.0,
                       seed: int = 0) -> pd.DataFrame:
    """Download and validate the spectra of ``targets``; valid files are kept.

    Each file is cached at ``<dest_dir>/<SAS path>`` (streamed, resumable, validated by
    :func:`validate_spec_file` against its plate/MJD/fibre); valid cached files are not
    fetched again, so a killed run resumes.

    Parameters
    ----------
    targets : pandas.DataFrame
        ``plate`` (or ``plateid``), ``mjd``, ``fiberid`` and optionally ``run2d``
        (default 26) per spectrum.
    dest_dir : path
        Cache root.
    base_url : str
        SAS mirror (config ``live.sdss_sas.url``; the public one is
        https://data.sdss.org).
    release : str
        Data release directory (``dr17``).
    concurrency, rate_per_s, timeout_s, max_retries, backoff_s, seed
        Download settings (config ``download``).

    Returns
    -------
    pandas.DataFrame
        One row per target (:data:`MANIFEST_COLUMNS`), in input order; a missing file
        is ``failed`` with ``http_404``.
    """
    if not base_url:
        raise ValueError("archive 'live' needs the config key live.sdss_sas.url")
    plate_col = "plate" if "plate" in targets.columns else "plateid"
    for col in (plate_col, "mjd", "fiberid"):
        if col not in targets.columns:
            raise KeyError(f"fetch_sdss_spectra: targets lack the column {col!r}")
    plates = targets[plate_col].to_numpy(dtype=np.int64)
    mjds = targets["mjd"].to_numpy(dtype=np.int64)
    fibers = targets["fiberid"].to_numpy(dtype=np.int64)
    run2d = (targets["run2d"].astype(str).to_numpy() if "run2d" in targets.columns
             else np.full(len(targets), "26"))
    keys = list(zip(plates.tolist(), mjds.tolist(), fibers.tolist(), strict=True))
    if len(set(keys)) != len(keys):
        raise ValueError("fetch_sdss_spectra: a (plate, mjd, fiberid) is listed twice")
    dest = Path(dest_dir)
    urls = [spectrum_url(base_url, p, m, f, r, release)
            for (p, m, f), r in zip(keys, run2d, strict=True)]
    paths = [dest / sas_spectrum_path(p, m, f, r, release)
             for (p, m, f), r in zip(keys, run2d, strict=True)]
    policy = RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))
    bucket = TokenBucket(rate_per_s, burst=max(1, concurrency))

    def one(item):
        key, url, path = item
        return download_file(url, path, lambda p: validate_spec_file(p, key),
                             timeout=timeout_s, policy=policy, bucket=bucket, seed=seed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = list(pool.map(one, zip(keys, urls, paths, strict=True)))
    return pd.DataFrame({
        "plate": plates.astype(np.int32), "mjd": mjds.astype(np.int32),
        "fiberid": fibers.astype(np.int32), "url": urls,
        **outcome_columns(outcomes),
    })[MANIFEST_COLUMNS]
