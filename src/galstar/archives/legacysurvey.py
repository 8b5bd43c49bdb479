"""Legacy Survey DR9 clients: the ``fits-cutout`` service and the sweep catalogues.

Sweep files tile the sky in 10 x 5 deg boxes named by their corners,
``sweep-<ramin><p|m><decmin>-<ramax><p|m><decmax>.fits`` (three-digit integers, ``p``
for dec >= 0), one set per region (``north``: BASS/MzLS, ``south``: DECaLS), under
``<base>/<region>/sweep/<version>/``. A box may exist in one region, both or neither.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.archives.http import http_get

__all__ = [
    "SWEEP_RA_STEP",
    "SWEEP_DEC_STEP",
    "SWEEP_REQUIRED_COLUMNS",
    "LegacySurveyCutouts",
    "cutout_url",
    "sweep_name",
    "parse_sweep_name",
    "sweep_names_covering",
    "sweep_url",
    "SweepBlock",
    "iter_sweep_blocks",
    "iter_sweep_rows",
]

SWEEP_RA_STEP = 10
SWEEP_DEC_STEP = 5
#: Columns a file must have to be accepted as a DR9 sweep.
SWEEP_REQUIRED_COLUMNS = ["RELEASE", "BRICKID", "OBJID", "TYPE", "RA", "DEC"]
_SWEEP_RE = re.compile(r"^sweep-(\d{3})([pm])(\d{3})-(\d{3})([pm])(\d{3})\.fits$")


def _coord(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (the server sees our float)."""
    return repr(float(value))


def cutout_url(base_url: str, ra: float, dec: float, layer: str = "ls-dr9",
               pixscale: float = 0.262, bands: str = "grz", size: int = 152) -> str:
    """The ``fits-cutout`` request for one position, parameters in the service's order.

    >>> cutout_url("https://www.legacysurvey.org/viewer/fits-cutout", 150.5, 2.25)
    'https://www.legacysurvey.org/viewer/fits-cutout?ra=150.5&dec=2.25&layer=ls-dr9&pixscale=0.262&bands=grz&size=152'
    """
    return (f"{base_url}?ra={_coord(ra)}&dec={_coord(dec)}&layer={layer}"
            f"&pixscale={_coord(pixscale)}&bands={bands}&size={int(size)}")


class LegacySurveyCutouts:
    """Client of the Legacy Survey ``fits-cutout`` service.

    Parameters
    ----------
    base_url : str
        Service address (config ``live.legacysurvey.cutout_url``).
    layer, pixscale, bands, size
        Request parameters (config ``galaxies.cutout``).
    timeout : float
        Seconds for the connection and between bytes (config ``download.timeout_s``).
    """

    def __init__(self, base_url: str, layer: str = "ls-dr9", pixscale: float = 0.262,
                 bands: str = "grz", size: int = 152, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("?")
        self.layer, self.pixscale, self.bands, self.size = layer, pixscale, bands, int(size)
        self.timeout = timeout

    def url(self, ra: float, dec: float) -> str:
        """Request address for one position."""
        return cutout_url(self.base_url, ra, dec, self.layer, self.pixscale, self.bands,
                          self.size)

    def fits_bytes(self, ra: float, dec: float) -> bytes:
        """Fetch one cutout (one try; retries belong to the caller).

        Raises
        ------
        galstar.archives.http.FetchError
            On any HTTP or transport failure.
        """
        return http_get(self.url(ra, dec), timeout=self.timeout)


def _signed(value: int) -> str:
    return f"{'m' if value < 0 else 'p'}{abs(value):03d}"


def sweep_name(ra_min: int, dec_min: int) -> str:
    """Name of the sweep box whose lower corner is ``(ra_min, dec_min)`` degrees.

    >>> sweep_name(0, -5)
    'sweep-000m005-010p000.fits'
    """
    if ra_min % SWEEP_RA_STEP or dec_min % SWEEP_DEC_STEP:
        raise ValueError(f"({ra_min}, {dec_min}) is not a sweep box corner")
    return (f"sweep-{ra_min:03d}{_signed(dec_min)}-"
            f"{ra_min + SWEEP_RA_STEP:03d}{_signed(dec_min + SWEEP_DEC_STEP)}.fits")


def parse_sweep_name(name: str) -> tuple[int, int, int, int]:
    """``(ra_min, dec_min, ra_max, dec_max)`` of a sweep file name (a path is fine)."""
    match = _SWEEP_RE.match(os.path.basename(name))
    if not match:
        raise ValueError(f"{name!r} is not a DR9 sweep file name")
    ra0, s0, d0, ra1, s1, d1 = match.groups()
    sign = {"p": 1, "m": -1}
    return int(ra0), sign[s0] * int(d0), int(ra1), sign[s1] * int(d1)


def sweep_names_covering(ra: Iterable[float], dec: Iterable[float]) -> list[str]:
    """Sorted names of the sweep boxes that contain at least one of the positions.

    Parameters
    ----------
    ra, dec : array-like of float
        Positions in degrees (the MPA-JHU footprint).

    Raises
    ------
    ValueError
        If a position is not finite or out of range.
    """
    ra = np.asarray(ra, dtype=float)
    dec = np.asarray(dec, dtype=float)
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{int(bad.sum())} invalid positions, first ra={ra[i]}, dec={dec[i]}")
    ra = np.mod(ra, 360.0)
    ra0 = (np.floor(ra / SWEEP_RA_STEP) * SWEEP_RA_STEP).astype(int)
    # dec = +90 belongs to the top box, not to a box starting at +90.
    dec0 = np.minimum(np.floor(dec / SWEEP_DEC_STEP) * SWEEP_DEC_STEP,
                      90 - SWEEP_DEC_STEP).astype(int)
    corners = sorted(set(zip(ra0.tolist(), dec0.tolist(), strict=True)))
    return [sweep_name(r, d) for r, d in corners]


def sweep_url(base_url: str, region: str, name: str, version: str = "9.0") -> str:
    """Address of one sweep file, ``<base>/<region>/sweep/<version>/<name>``."""
    return f"{base_url.rstrip('/')}/{region}/sweep/{version}/{name}"


class SweepBlock:
    """Consecutive rows of a sweep table, memory-mapped; nothing is read until a column is.

    Valid only while the iterator that yielded it is suspended on it (the file is open).

    Attributes
    ----------
    start : int
        First row of the block, counted from the start of the file.
    """

    def __init__(self, start: int, rows: fits.FITS_rec, names: dict[str, str],
                 ignore_case: bool) -> None:
        self.start = start
        self._rows = rows
        self._names = names
        self._ignore_case = ignore_case

    def __len__(self) -> int:
        return len(self._rows)

    def column(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """One column (optionally only ``rows`` of the block) as a native array.

        Numbers become native-endian copies (safe after the file is closed); text becomes
        stripped ``str`` objects. Multi-dimensional columns keep their trailing axes.
        """
        values = np.asarray(self._rows.field(self._names[name.upper() if self._ignore_case
                                                         else name]))
        if rows is not None:
            values = values[rows]
        if values.dtype.kind in "SU":
            return np.char.strip(values.astype(str)).astype(object)
        return values.astype(values.dtype.newbyteorder("="), copy=True)


def _sweep_table(hdul: fits.HDUList, path: str | os.PathLike,
                 hdu: int | None) -> fits.BinTableHDU:
    if hdu is None:
        for candidate in hdul:
            if isinstance(candidate, fits.BinTableHDU):
                return candidate
        raise ValueError(f"{path}: no binary table extension (not a DR9 sweep file?)")
    if len(hdul) <= hdu or not isinstance(hdul[hdu], fits.BinTableHDU):
        raise ValueError(f"{path}: HDU {hdu} is not a binary table (not a sweep file?)")
    return hdul[hdu]


def iter_sweep_blocks(path: str | os.PathLike, columns: Sequence[str] | None = None,
                      chunk_rows: int = 100_000, *, ignore_case: bool = False,
                      hdu: int | None = 1) -> Iterator[tuple[list[str], SweepBlock]]:
    """Yield ``(columns, block)`` for consecutive memory-mapped row blocks of a sweep file.

    The one sweep reader: the file is memory-mapped and a :class:`SweepBlock` converts
    only the columns (and rows) asked of it, so memory is bounded by ``chunk_rows``
    whatever the file size (real sweeps are a few GB).

    Parameters
    ----------
    path : str or os.PathLike
        Sweep FITS file.
    columns : sequence of str, optional
        Columns that must exist (default: every scalar column); yielded back, resolved.
    chunk_rows : int
        Rows per block.
    ignore_case : bool
        Look column names up case-insensitively (``block.column("ra")`` reads ``RA``).
    hdu : int or None
        Index of the table HDU; None takes the first binary table extension.

    Raises
    ------
    ValueError
        If ``chunk_rows < 1`` or the file has no such binary table (names the file).
    KeyError
        If a column is missing (names the file and the columns).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    with fits.open(path, memmap=True) as hdul:
        table = _sweep_table(hdul, path, hdu)
        if ignore_case:
            names = {name.upper(): name for name in table.columns.names}
        else:
            names = {name: name for name in table.columns.names}
        if columns is None:
            # Scalar columns only; a text column ("8A") is one string per row.
            columns = [c.name for c in table.columns
                       if c.format.repeat == 1 or c.format.format == "A"]
        columns = list(columns)
        missing = [c for c in columns if (c.upper() if ignore_case else c) not in names]
        if missing:
            raise KeyError(f"{path}: no column(s) {', '.join(missing)} in the sweep table")
        n_rows = int(table.header["NAXIS2"])
        for start in range(0, n_rows, chunk_rows):
            block = SweepBlock(start, table.data[start:start + chunk_rows], names,
                               ignore_case)
            yield columns, block


def iter_sweep_rows(path: str | os.PathLike, columns: Sequence[str] | None = None,
                    chunk_rows: int = 100_000) -> Iterator[pd.DataFrame]:
    """Stream a sweep file as DataFrames of at most ``chunk_rows`` rows.

    The file is memory-mapped and only one chunk of the requested columns is converted
    at a time, so memory is bounded by the chunk, whatever the file size (real sweeps
    are a few GB). Reads through :func:`iter_sweep_blocks` (table in HDU 1, exact
    column names).

    Parameters
    ----------
    path : str or os.PathLike
        Sweep FITS file (table in HDU 1).
    columns : sequence of str, optional
        Columns to read (default: every scalar column).
    chunk_rows : int
        Rows per chunk.

    Yields
    ------
    pandas.DataFrame
        Native-endian columns; text columns as stripped ``str``. The index counts rows
        from the start of the file.
    """
    for names, block in iter_sweep_blocks(path, columns, chunk_rows):
        yield pd.DataFrame({name: block.column(name) for name in names},
                           index=pd.RangeIndex(block.start, block.start + len(block)))
