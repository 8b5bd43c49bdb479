"""Checks a downloaded file must pass before it is accepted into a cache.

Archives answer errors in many shapes: an HTML page with status 200, a body cut off
mid-transfer, a FITS of the wrong size, or a valid FITS of an empty sky region. Each
check raises :class:`Rejected` with a short reason code and says whether asking again
can help (``permanent``): a truncated body can be fetched again, an object outside the
survey footprint cannot.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from astropy.io import fits

__all__ = [
    "Rejected",
    "CutoutInfo",
    "sniff_html",
    "validate_cutout",
    "validate_fits_table",
    "validate_fits_table_bytes",
]

FITS_MAGIC = b"SIMPLE  ="
_HTML_MARKERS = (b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<title")


class Rejected(ValueError):
    """A downloaded file failed validation.

    Parameters
    ----------
    reason : str
        Short machine-readable code (``html_page``, ``not_fits``, ``truncated``,
        ``bad_shape``, ``bad_dtype``, ``bad_bands``, ``out_of_footprint``,
        ``non_finite``, ``missing_columns``), followed by ``": detail"`` when useful.
    permanent : bool
        True when the same request would return the same content again, so retrying
        is pointless (the object is recorded as failed with this reason).
    """

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class CutoutInfo:
    """What a valid cutout is: its band letters and its (nband, size, size) shape."""

    bands: str
    shape: tuple[int, int, int]


def sniff_html(head: bytes) -> bool:
    """Return True if ``head`` (the first bytes of a body) looks like HTML or XML."""
    start = head[:512].lstrip().lower()
    return any(start.startswith(marker) for marker in _HTML_MARKERS) or b"<html" in start


def _check_magic(data: bytes) -> None:
    if sniff_html(data):
        raise Rejected("html_page")
    if not data.startswith(FITS_MAGIC):
        raise Rejected(f"not_fits: starts with {data[:16]!r}")


def _data_bytes(header: fits.Header) -> int:
    """Size of the data unit a header announces, padded to whole 2880-byte blocks."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    npix = math.prod(int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1))
    size = abs(int(header["BITPIX"])) // 8 * int(header.get("GCOUNT", 1)) * (
        int(header.get("PCOUNT", 0)) + npix
    )
    return -(-size // 2880) * 2880


def _check_complete(fh: BinaryIO, nbytes: int, n_hdus: int) -> None:
    """Reject when the first ``n_hdus`` headers promise more bytes than there are.

    Done before astropy opens the data, so a truncated body is named as such (astropy
    would only warn) and no warning filter has to be changed from worker threads.
    """
    fh.seek(0)
    end = 0
    for index in range(n_hdus):
        try:
            header = fits.Header.fromfile(fh, endcard=True, padding=True)
        except (OSError, ValueError, EOFError) as err:
            raise Rejected(f"truncated: header of HDU {index} incomplete ({err})") from None
        end = fh.tell() + _data_bytes(header)
        if nbytes < end:
            raise Rejected(f"truncated: {nbytes} of {end} bytes")
        fh.seek(end)
    fh.seek(0)


def _header_bands(header: fits.Header, nbands: int) -> str:
    """The band letters of a cutout, from ``BANDS`` or else ``BAND0..n``."""
    if "BANDS" in header:
        return str(header["BANDS"]).strip()
    return "".join(str(header.get(f"BAND{i}", "?")).strip() for i in range(nbands))


def validate_cutout(data: bytes, size: int, bands: str) -> CutoutInfo:
    """Validate the body of a Legacy Survey ``fits-cutout`` response.

    Parameters
    ----------
    data : bytes
        Response body.
    size : int
        Requested cutout side in pixels.
    bands : str
        Requested band letters, in order (``"grz"``).

    Returns
    -------
    CutoutInfo
        Bands and shape of the accepted cutout.

    Raises
    ------
    Rejected
        With a reason code. Out-of-footprint bands (all pixels zero or non-finite) and
        non-finite pixels inside bands that have data are permanent; the service fills
        pixels outside the footprint with zeros.
    """
    _check_magic(data)
    buffer = io.BytesIO(data)
    _check_complete(buffer, len(data), 1)
    try:
        with fits.open(buffer) as hdul:
            hdu = hdul[0]
            header = hdu.header
            if header.get("BITPIX") != -32:
                raise Rejected(f"bad_dtype: BITPIX {header.get('BITPIX')} (want -32)")
            shape = tuple(header.get(f"NAXIS{i}", 0) for i in (3, 2, 1))
            if header.get("NAXIS") != 3 or shape != (len(bands), size, size):
                raise Rejected(f"bad_shape: {shape} (want {(len(bands), size, size)})")
            got_bands = _header_bands(header, len(bands))
            if got_bands != bands:
                raise Rejected(f"bad_bands: {got_bands!r} (want {bands!r})")
            pixels = np.array(hdu.data)
    except Rejected:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
        raise Rejected(f"not_fits: {err}") from None
    for i, band in enumerate(bands):
        plane = pixels[i]
        finite = np.isfinite(plane)
        if not np.any(finite & (plane != 0)):
            raise Rejected(f"out_of_footprint: band {band} has no data", permanent=True)
        if not finite.all():
            bad = int((~finite).sum())
            raise Rejected(f"non_finite: {bad} pixels in band {band}", permanent=True)
    return CutoutInfo(bands=bands, shape=(len(bands), size, size))


def _validate_table_hdul(hdul: fits.HDUList, required: list[str]) -> int:
    if len(hdul) < 2 or not isinstance(hdul[1], fits.BinTableHDU):
        raise Rejected("not_fits: no binary table in HDU 1")
    names = set(hdul[1].columns.names)
    missing = [c for c in required if c not in names]
    if missing:
        raise Rejected(f"missing_columns: {missing}", permanent=True)
    return int(hdul[1].header["NAXIS2"])


def validate_fits_table(path: str | os.PathLike, required: list[str]) -> int:
    """Validate a FITS binary table file (a sweep file) on disk without reading it.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    required : list of str
        Columns HDU 1 must have.

    Returns
    -------
    int
        Number of rows.

    Raises
    ------
    Rejected
        When the file is HTML, not FITS, shorter than its headers promise, or lacks a
        required column.
    """
    with open(path, "rb") as fh:
        _check_magic(fh.read(2880))
        _check_complete(fh, os.path.getsize(path), 2)
    try:
        with fits.open(path, memmap=True) as hdul:
            return _validate_table_hdul(hdul, required)
    except Rejected:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
        raise Rejected(f"not_fits: {err}") from None


def validate_fits_table_bytes(data: bytes, required: list[str]) -> int:
    """Like :func:`validate_fits_table` for a body held in memory."""
    _check_magic(data)
    buffer = io.BytesIO(data)
    _check_complete(buffer, len(data), 2)
    try:
        with fits.open(buffer) as hdul:
            return _validate_table_hdul(hdul, required)
    except Rejected:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
        raise Rejected(f"not_fits: {err}") from None
