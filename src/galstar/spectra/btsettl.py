"""Reader for Lyon BT-Settl ``.spec.7`` ASCII spectra (optionally ``.bz2`` / ``.gz``).

Column 1 is the wavelength [Angstrom], column 2 is log10 of F_lambda minus an offset
DF: ``F_lambda = 10**(col2 + DF)`` erg/s/cm2/A, DF = -8 for AGSS2009, CIFIST2011 and
CIFIST2011_2015 (-26.9007901434 for NextGen / AMES-Cond / Dusty); further columns
(blackbody, line ids) are ignored. Numbers use Fortran ``D`` exponents; rows are not
sorted and some wavelengths repeat; in some CIFIST2011 files neighbouring columns run
together (``0.1000000D+05-0.3500D+01``), so a sign that follows a digit starts a new
number.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import re
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from galstar.spectra.errors import SpectrumFormatError

__all__ = ["DF_CIFIST", "DF_NEXTGEN", "FLUX_UNIT", "read_btsettl"]

#: Offset of column 2 for the AGSS2009, CIFIST2011 and CIFIST2011_2015 grids.
DF_CIFIST = -8.0
#: Offset for the older NextGen, AMES-Cond and AMES-Dusty grids.
DF_NEXTGEN = -26.9007901434
FLUX_UNIT = u.erg / u.s / u.cm**2 / u.AA

# A sign directly after a digit or a decimal point cannot belong to an exponent (that
# follows D/E), so it starts the next, run-together column.
_RUN_TOGETHER = re.compile(rb"(?<=[0-9.])(?=[+-][0-9.])")


def read_btsettl(path: str | os.PathLike, df: float = DF_CIFIST
                 ) -> tuple[u.Quantity, u.Quantity]:
    """Read a BT-Settl ``.spec.7`` file into a sorted, duplicate-free spectrum.

    Parameters
    ----------
    path : str or os.PathLike
        ``lte*.BT-Settl.spec.7``, optionally compressed (``.bz2``, ``.gz``; detected from
        the file's first bytes, not only its name).
    df : float
        Offset added to column 2 before exponentiation (check the grid's README).

    Returns
    -------
    wavelength : astropy.units.Quantity
        Strictly increasing, Angstrom (float64).
    flux : astropy.units.Quantity
        F_lambda in erg / (s cm2 Angstrom) (float64). Of repeated wavelengths the first
        row in the file is kept; rows with a non-finite value are dropped.

    Raises
    ------
    SpectrumFormatError
        Naming the file: missing, empty, unreadable compression, or no row with two
        numeric columns.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise SpectrumFormatError(f"{path}: empty BT-Settl file (no data rows)")
    wave, logf = _first_two_columns(raw.replace(b"D", b"E").replace(b"d", b"e"), path)
    order = np.argsort(wave, kind="stable")
    wave, logf = wave[order], logf[order]
    # np.unique keeps the first index of each value; stable sort kept file order.
    wave, first = np.unique(wave, return_index=True)
    logf = logf[first]
    flux = 10.0 ** (logf + df)
    return wave * u.AA, flux * FLUX_UNIT


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise SpectrumFormatError(f"{path}: no such BT-Settl file")
    with open(path, "rb") as fh:
        head = fh.read(3)
    opener = bz2.open if head == b"BZh" else gzip.open if head[:2] == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, ValueError) as err:
        raise SpectrumFormatError(f"{path}: cannot decompress ({err})") from err


def _first_two_columns(text: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength and column 2 of every row that starts with two numbers.

    pandas' C parser reads the first two whitespace-separated fields of each row
    (rows may have any number of further columns). Only when a field is not a number
    (run-together columns) is the slower sign-splitting regex applied, then re-read.
    """
    table = _parse(text, path)
    if table is None or not all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes):
        table = _parse(_RUN_TOGETHER.sub(b" ", text), path)
    if table is None:
        raise SpectrumFormatError(f"{path}: no row with two columns")
    w = pd.to_numeric(table[0], errors="coerce").to_numpy(dtype=np.float64)
    f = pd.to_numeric(table[1], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(w) & np.isfinite(f) & (w > 0)
    if not keep.any():
        raise SpectrumFormatError(f"{path}: no row with a numeric wavelength and flux")
    return w[keep], f[keep]


def _parse(text: bytes, path: Path) -> pd.DataFrame | None:
    """The first two columns, or None when there is no row with two fields."""
    try:
        table = pd.read_csv(io.BytesIO(text), sep=r"\s+", header=None, usecols=[0, 1],
                            comment="#", engine="c")
    except pd.errors.EmptyDataError:
        return None
    except ValueError as err:  # e.g. every row has a single field
        if "usecols" in str(err).lower():
            return None
        raise SpectrumFormatError(f"{path}: cannot parse as BT-Settl ASCII ({err})") from err
    return table if len(table) else None
