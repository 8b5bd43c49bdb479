"""SDSS ``spec-PLATE-MJD-FIBER.fits`` files: one reader for legacy and BOSS spectra.

:func:`read_spectrum` returns a :class:`Spectrum`: the ``COADD`` table (wavelength
10**loglam [Angstrom], flux [1e-17 erg/s/cm2/A], ivar, and_mask, or_mask) and the
redshift, class and identifiers of the one-row ``SPECOBJ`` (legacy) or ``SPALL`` (BOSS)
table. HDUs are found by EXTNAME, so BOSS files with any number of per-exposure HDUs
read the same way.

Why not specutils or astropy.io.fits: specutils 2.4.0's ``SDSS-III/IV spec`` loader
takes ``hdulist[1]`` by position, collapses and_mask to ``and_mask != 0`` (the fixture
sets MANYBADCOLUMNS, a fibre-level warning, on 1755 of its 3838 pixels, so that mask
drops half the spectrum), drops or_mask and all of SPECOBJ (z, class, plate/mjd/fiber)
and costs ~11 ms a file. astropy.io.fits costs ~3 ms to open a file and ~70 ms to
materialise the 126-column SPECOBJ row (~85 ms a file for the columns needed here).
The target is 300 spectra/s/core for the whole preprocessing (3.3 ms), so the file is
parsed here: the header cards needed to locate each HDU and its columns, then
:func:`numpy.frombuffer` over the table bytes with a dtype of only the wanted columns.
Anything outside the binary-table subset that SDSS writes (no TDIM or heap needed for
these columns) is refused with :class:`~galstar.spectra.errors.SpectrumFormatError`.
The tests check every field against astropy.io.fits on the real fixture.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galstar.spectra.errors import SpectrumFormatError

__all__ = ["COADD_COLUMNS", "SPECOBJ_COLUMNS", "Spectrum", "clear_caches",
           "object_id_from_path", "read_spectrum"]

_BLOCK = 2880
_CARD = 80

#: COADD columns read (all present in legacy and BOSS files).
COADD_COLUMNS = ("flux", "loglam", "ivar", "and_mask", "or_mask")
#: SPECOBJ / SPALL columns read; the first seven are required.
SPECOBJ_COLUMNS = ("PLATE", "MJD", "FIBERID", "Z", "Z_ERR", "ZWARNING", "CLASS",
                   "SUBCLASS", "PLUG_RA", "PLUG_DEC", "SPECOBJID")
_REQUIRED_SPECOBJ = 7

# Bytes per element of each TFORM type code (X is in bits, handled apart).
_TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8,
                "C": 8, "M": 16, "P": 8, "Q": 16}
_TFORM_DTYPE = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4",
                "D": ">f8"}
_TFORM_RE = re.compile(r"^\s*(\d*)\s*([LXBIJKAEDCMPQ])")
_SPEC_NAME_RE = re.compile(r"spec-(\d+)-(\d+)-(\d+)")


@dataclass(frozen=True)
class Spectrum:
    """One SDSS spectrum as stored, observed frame.

    Attributes
    ----------
    source : str
        The file read.
    loglam : numpy.ndarray
        log10(wavelength / Angstrom) per pixel, float64, increasing.
    flux : numpy.ndarray
        Coadded flux density [1e-17 erg/s/cm2/Angstrom], float32.
    ivar : numpy.ndarray
        Inverse variance of ``flux`` [(1e-17 erg/s/cm2/Angstrom)**-2]; 0 marks a bad pixel.
    and_mask, or_mask : numpy.ndarray
        SPPIXMASK bits set in all / any exposure, int64
        (:data:`galstar.spectra.sdss_grid.SPPIXMASK`).
    plate, mjd, fiber : int
    z, z_err : float
        Pipeline redshift and its error.
    zwarning : int
        ZWARNING bits (0: no known problem).
    spec_class : str
        CLASS (``GALAXY``, ``QSO``, ``STAR``).
    subclass : str
    ra, dec : float
        Fibre position [deg] (PLUG_RA / PLUG_DEC; NaN when absent).
    specobj_id : str
        SPECOBJID as stored (``""`` when absent).
    table_name : str
        ``"SPECOBJ"`` (legacy) or ``"SPALL"`` (BOSS).
    hdu_names : tuple of str
        EXTNAMEs seen while reading, in file order (the reader stops after the tables
        it needs, so trailing per-exposure HDUs may be missing here).
    """

    source: str
    loglam: np.ndarray = field(repr=False)
    flux: np.ndarray = field(repr=False)
    ivar: np.ndarray = field(repr=False)
    and_mask: np.ndarray = field(repr=False)
    or_mask: np.ndarray = field(repr=False)
    plate: int
    mjd: int
    fiber: int
    z: float
    z_err: float
    zwarning: int
    spec_class: str
    subclass: str
    ra: float
    dec: float
    specobj_id: str
    table_name: str
    hdu_names: tuple[str, ...]
    _primary_header: bytes = field(repr=False, compare=False, default=b"")

    @property
    def wavelength(self) -> np.ndarray:
        """Pixel centres [Angstrom] (10**loglam), float64."""
        return 10.0 ** self.loglam

    @property
    def n_pixels(self) -> int:
        """Number of COADD pixels."""
        return int(self.flux.size)

    @property
    def object_id(self) -> str:
        """``PLATE-MJD-FIBER`` as in the file name (``0266-51602-0013``)."""
        return f"{self.plate:04d}-{self.mjd:05d}-{self.fiber:04d}"

    @property
    def header(self):
        """The primary header as an :class:`astropy.io.fits.Header` (parsed on demand)."""
        from astropy.io import fits

        return fits.Header.fromstring(self._primary_header.decode("ascii", "replace"))


def clear_caches() -> None:
    """Forget the memoised header and table layouts (benchmarks time cold reads)."""
    _parse_cards.cache_clear()
    _layout.cache_clear()


def object_id_from_path(path: str | os.PathLike) -> str:
    """``PLATE-MJD-FIBER`` from a ``spec-*.fits`` name, else the file's stem."""
    name = Path(path).name
    m = _SPEC_NAME_RE.search(name)
    if m is None:
        return Path(name).stem
    return f"{int(m[1]):04d}-{int(m[2]):05d}-{int(m[3]):04d}"


@dataclass
class _Hdu:
    """One HDU's header cards of interest and where its data lie."""

    cards: dict
    raw: bytes
    data_start: int
    data_bytes: int


def _card_value(value: str):
    """A card's value field (after ``= ``, comment cut) as str, int, float or bool."""
    if value.startswith("'"):  # '' is an escaped quote inside a FITS string
        return value[1:-1].replace("''", "'").rstrip()
    value = value.strip()
    if value in ("T", "F"):
        return value == "T"
    try:
        return int(value)
    except ValueError:
        return float(value.replace("D", "E"))


# The cards needed, one per line once the header is cut into 80-character lines:
# regex scanning in C instead of a Python loop over ~400 cards per file.
_CARD_RE = re.compile(
    r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTNAME|TFIELDS|PLUG_RA|PLUG_DEC"
    r"|TTYPE\d+|TFORM\d+|TSCAL\d+|TZERO\d+) *= *('(?:[^'\n]|'')*'|[^/\n]*)",
    re.MULTILINE)
_END_RE = re.compile(rb"END {77}")
_COLUMNS_KEY = " columns"  # (TTYPEs, TFORMs) in a parsed header; no FITS key has a space


@functools.lru_cache(maxsize=32)
def _parse_cards(raw: bytes) -> dict:
    """The cards of :data:`_CARD_RE` in header bytes ``raw``; memoised (treat the dict
    as read-only), as the SPECOBJ header is the same in every file of a release (the
    primary headers differ per file and pass through the small cache)."""
    lines = b"\n".join(np.frombuffer(raw, dtype=f"S{_CARD}").tolist()).decode("latin-1")
    cards = {key: _card_value(value) for key, value in _CARD_RE.findall(lines)}
    nfields = int(cards.get("TFIELDS", 0))  # the column list, built once per header
    cards[_COLUMNS_KEY] = (tuple(str(cards.get(f"TTYPE{k}", "")) for k in range(1, nfields + 1)),
                           tuple(str(cards.get(f"TFORM{k}", "")) for k in range(1, nfields + 1)))
    return cards


def _read_header(fh, path: str, offset: int, size: int) -> _Hdu:
    """Parse the header at ``offset``; raise naming the file when it is not FITS."""
    blocks = []
    while True:
        block = fh.read(_BLOCK)
        if offset == 0 and not blocks and not block.startswith(b"SIMPLE  ="):
            raise SpectrumFormatError(f"{path}: not_fits: does not start with a FITS "
                                      f"SIMPLE card (starts {block[:16]!r})")
        if len(block) < _BLOCK:
            raise SpectrumFormatError(f"{path}: truncated: header at byte {offset} has no "
                                      f"END card before the end of the file ({size} bytes)")
        blocks.append(block)
        end = next((m for m in _END_RE.finditer(block) if m.start() % _CARD == 0), None)
        if end is not None:
            break
    raw = b"".join(blocks)
    try:
        cards = _parse_cards(raw)
    except ValueError as err:
        raise SpectrumFormatError(f"{path}: bad header card in the HDU at byte "
                                  f"{offset}: {err}") from err
    naxis = int(cards.get("NAXIS", 0))
    n = 0
    if naxis:
        n = 1
        for k in range(1, naxis + 1):
            n *= int(cards.get(f"NAXIS{k}", 0))
    nbytes = (abs(int(cards.get("BITPIX", 8))) // 8 * int(cards.get("GCOUNT", 1))
              * (int(cards.get("PCOUNT", 0)) + n))
    return _Hdu(cards, raw, offset + len(raw), nbytes)


def _table_dtype(hdu: _Hdu, columns, path: str, extname: str) -> tuple[np.dtype, dict]:
    """Record dtype holding only ``columns`` (those present) and their TSCAL/TZERO."""
    cards = hdu.cards
    ttypes, tforms = cards[_COLUMNS_KEY]
    try:
        dtype, index = _layout(ttypes, tforms, tuple(columns))
    except ValueError as err:
        raise SpectrumFormatError(f"{path}: {extname}: {err}") from err
    if dtype.itemsize != int(cards.get("NAXIS1", -1)):
        raise SpectrumFormatError(f"{path}: {extname}: columns span {dtype.itemsize} bytes "
                                  f"but NAXIS1 = {cards.get('NAXIS1')}")
    scaling = {}
    for name, k in index.items():
        scal, zero = cards.get(f"TSCAL{k}", 1), cards.get(f"TZERO{k}", 0)
        if (scal, zero) != (1, 0):
            scaling[name] = (scal, zero)
    return dtype, scaling


@functools.lru_cache(maxsize=64)
def _layout(ttypes: tuple, tforms: tuple, columns: tuple) -> tuple[np.dtype, dict]:
    """Record dtype of ``columns`` within rows of ``tforms``; memoised, as files of one
    data release share their table layouts."""
    wanted = {c.upper(): c for c in columns}
    names, formats, offsets, index = [], [], [], {}
    off = 0
    for k, (ttype, tform) in enumerate(zip(ttypes, tforms, strict=True), start=1):
        m = _TFORM_RE.match(tform)
        if m is None:
            raise ValueError(f"unknown TFORM{k} {tform!r}")
        repeat = int(m[1]) if m[1] else 1
        code = m[2]
        width = (repeat + 7) // 8 if code == "X" else repeat * _TFORM_BYTES[code]
        name = wanted.get(ttype.strip().upper())
        if name is not None and name not in index:
            if code == "A":
                fmt = f"S{repeat}"
            elif code in _TFORM_DTYPE:
                fmt = _TFORM_DTYPE[code] if repeat == 1 else f"({repeat},){_TFORM_DTYPE[code]}"
            else:
                raise ValueError(f"column {ttype} has unsupported TFORM {tform!r}")
            names.append(name)
            formats.append(fmt)
            offsets.append(off)
            index[name] = k
        off += width
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": off}), index


def _read_table(fh, hdu: _Hdu, columns, path: str, extname: str, size: int) -> np.ndarray:
    dtype, scaling = _table_dtype(hdu, columns, path, extname)
    nrows = int(hdu.cards.get("NAXIS2", 0))
    nbytes = nrows * dtype.itemsize
    if hdu.data_start + nbytes > size:
        raise SpectrumFormatError(f"{path}: truncated: {extname} needs bytes "
                                  f"{hdu.data_start}-{hdu.data_start + nbytes}, the file has "
                                  f"{size}")
    fh.seek(hdu.data_start)
    table = np.frombuffer(fh.read(nbytes), dtype=dtype, count=nrows)
    if scaling:
        out = {}
        for name in dtype.names:
            col = table[name]
            if name in scaling:
                scal, zero = scaling[name]
                if col.dtype.kind in "iu" and scal == 1 and float(zero).is_integer():
                    col = col.astype(np.int64) + int(zero)  # unsigned ints stored signed
                else:
                    col = col * scal + zero
            out[name] = col
        return out
    return {name: table[name] for name in dtype.names}


def _str(value) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode("ascii", "replace").strip()
    return str(value).strip()


def read_spectrum(path: str | os.PathLike) -> Spectrum:
    """Read one SDSS ``spec-*.fits`` file (legacy SPECOBJ or BOSS SPALL).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    Spectrum
        Arrays in native byte order (loglam float64, flux and ivar float32, masks int64).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    SpectrumFormatError
        The message starts with the path, then a code: ``not_fits`` (e.g. an HTML error
        page saved as .fits), ``truncated`` (shorter than its headers say, or not a
        whole number of 2880-byte blocks), ``missing_hdu`` (no COADD, or neither SPECOBJ
        nor SPALL), ``missing_column`` or a format detail.
    """
    path = str(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise SpectrumFormatError(f"{path}: not_fits: empty file")
        primary = _read_header(fh, path, 0, size)
        if size % _BLOCK:
            raise SpectrumFormatError(f"{path}: truncated: {size} bytes is not a whole "
                                      f"number of {_BLOCK}-byte FITS blocks")
        names: list[str] = ["PRIMARY"]
        coadd = specobj = None
        table_name = ""
        offset = primary.data_start + -(-primary.data_bytes // _BLOCK) * _BLOCK
        while offset < size and (coadd is None or specobj is None):
            fh.seek(offset)
            hdu = _read_header(fh, path, offset, size)
            name = _str(hdu.cards.get("EXTNAME", "")).upper()
            names.append(name)
            if name == "COADD" and coadd is None:
                coadd = _read_table(fh, hdu, COADD_COLUMNS, path, name, size)
            elif name in ("SPECOBJ", "SPALL") and specobj is None:
                specobj = _read_table(fh, hdu, SPECOBJ_COLUMNS, path, name, size)
                table_name = name
            offset = hdu.data_start + -(-hdu.data_bytes // _BLOCK) * _BLOCK
    if coadd is None:
        raise SpectrumFormatError(f"{path}: missing_hdu: no COADD extension (HDUs: "
                                  f"{', '.join(names)})")
    if specobj is None:
        raise SpectrumFormatError(f"{path}: missing_hdu: neither SPECOBJ nor SPALL "
                                  f"(HDUs: {', '.join(names)})")
    for cols, table, ext in ((COADD_COLUMNS, coadd, "COADD"),
                             (SPECOBJ_COLUMNS[:_REQUIRED_SPECOBJ], specobj, table_name)):
        missing = [c for c in cols if c not in table]
        if missing:
            raise SpectrumFormatError(f"{path}: missing_column: {ext} lacks {missing}")
    if len(specobj["Z"]) < 1:
        raise SpectrumFormatError(f"{path}: missing_column: {table_name} has no row")

    def first(name, default):
        return specobj[name][0] if name in specobj else default

    ra = first("PLUG_RA", primary.cards.get("PLUG_RA", np.nan))
    dec = first("PLUG_DEC", primary.cards.get("PLUG_DEC", np.nan))
    return Spectrum(
        source=path,
        loglam=coadd["loglam"].astype(np.float64),
        flux=coadd["flux"].astype(np.float32),
        ivar=coadd["ivar"].astype(np.float32),
        and_mask=coadd["and_mask"].astype(np.int64),
        or_mask=coadd["or_mask"].astype(np.int64),
        plate=int(specobj["PLATE"][0]),
        mjd=int(specobj["MJD"][0]),
        fiber=int(specobj["FIBERID"][0]),
        z=float(specobj["Z"][0]),
        z_err=float(specobj["Z_ERR"][0]),
        zwarning=int(specobj["ZWARNING"][0]),
        spec_class=_str(specobj["CLASS"][0]),
        subclass=_str(first("SUBCLASS", b"")),
        ra=float(ra),
        dec=float(dec),
        specobj_id=_str(first("SPECOBJID", b"")),
        table_name=table_name,
        hdu_names=tuple(names),
        _primary_header=primary.raw,
    )
