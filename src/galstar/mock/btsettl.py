"""The model grid written as Lyon BT-Settl ``.spec.7`` ASCII files.

One file per node, named as the Lyon grid names them
(:func:`galstar.archives.btsettl.btsettl_filename`): column 1 wavelength [A], column 2
log10 F_lambda - DF with DF = -8 (F = 10**(col2 + DF) erg/s/cm2/A), column 3 the
blackbody in the same units; Fortran ``D`` exponents; a few row blocks out of order and
a few duplicated rows, as in the real files; optionally bz2-compressed.
"""

from __future__ import annotations

import bz2
import os

import numpy as np

from galstar.io import atomic_path

__all__ = ["DF", "fortran_d", "spec7_bytes", "write_spec7"]

#: Flux offset of the recent Lyon grids (AGSS2009, CIFIST2011, CIFIST2011_2015).
DF = -8.0
_POW10 = 10.0 ** np.arange(-120, 121)  # a table: float ** int-array is slow


def fortran_d(values: np.ndarray, digits: int) -> np.ndarray:
    """Format numbers as Fortran ``D`` fields, vectorised: ``' 0.12345678D+02'``.

    Parameters
    ----------
    values : ndarray
        Finite numbers (|x| < 1e99).
    digits : int
        Mantissa digits after ``0.``.

    Returns
    -------
    ndarray of uint8
        (n, digits + 7) characters per value: sign (space or ``-``), ``0.``, the
        digits, ``D``, the exponent sign and two exponent digits.
    """
    x = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("fortran_d: values must be finite")
    a = np.abs(x)
    e = np.zeros(x.shape, np.int64)
    pos = a > 0
    e[pos] = np.floor(np.log10(a[pos])).astype(np.int64) + 1
    if np.any(np.abs(e) > 98):
        raise ValueError("fortran_d: exponent beyond two digits")
    m = np.rint(a * _POW10[digits - e + 120]).astype(np.int64)
    over = m >= 10**digits  # rounding carried into a new digit
    m[over] //= 10
    e[over] += 1
    out = np.empty((x.size, digits + 7), np.uint8)
    out[:, 0] = np.where(x < 0, 45, 32)  # '-' or ' '
    out[:, 1] = 48  # '0'
    out[:, 2] = 46  # '.'
    # float division is exact here (integers < 2**53) and much faster than int64 //
    place = 10.0 ** np.arange(digits - 1, -1, -1)
    out[:, 3:3 + digits] = 48 + np.floor(m[:, None] / place[None, :]) % 10
    out[:, digits + 3] = 68  # 'D'
    out[:, digits + 4] = np.where(e < 0, 45, 43)  # '-' or '+'
    ae = np.abs(e)
    out[:, digits + 5] = 48 + ae // 10
    out[:, digits + 6] = 48 + ae % 10
    return out


def spec7_bytes(wave_a: np.ndarray, flux: np.ndarray, blackbody: np.ndarray,
                rng: np.random.Generator, shuffled_blocks: int = 3,
                duplicate_rows: int = 4) -> bytes:
    """The text of one ``.spec.7`` file.

    Parameters
    ----------
    wave_a : ndarray
        Wavelength [A], increasing.
    flux, blackbody : ndarray
        F_lambda and the blackbody [erg/s/cm2/A] (> 0).
    rng : numpy.random.Generator
        Chooses the blocks moved and the rows duplicated.
    shuffled_blocks : int
        Blocks of rows (of 1-5% of the file each) moved to other places.
    duplicate_rows : int
        Rows written a second time, right after a moved block (as where the model's
        wavelength chunks overlap).

    Returns
    -------
    bytes
        Rows ``' 0.7012345678D+04 0.13456789D+02 0.13498765D+02\\n'``.
    """
    if np.any(np.asarray(flux) <= 0) or np.any(np.asarray(blackbody) <= 0):
        raise ValueError("spec7_bytes: fluxes must be > 0 (the file stores their log)")
    n = len(wave_a)
    order = np.arange(n)
    if shuffled_blocks and n > 200:
        for _ in range(int(shuffled_blocks)):
            size = int(rng.integers(max(1, n // 100), max(2, n // 20)))
            start = int(rng.integers(0, n - size))
            block = order[start:start + size]
            rest = np.concatenate([order[:start], order[start + size:]])
            at = int(rng.integers(0, len(rest)))
            order = np.concatenate([rest[:at], block, rest[at:]])
    if duplicate_rows:
        dup_at = np.sort(rng.choice(n, size=min(int(duplicate_rows), n), replace=False))
        order = np.insert(order, dup_at + 1, order[dup_at])
    cols = [fortran_d(np.asarray(wave_a)[order], 10),
            fortran_d(np.log10(np.asarray(flux)[order]) - DF, 8),
            fortran_d(np.log10(np.asarray(blackbody)[order]) - DF, 8)]
    newline = np.full((len(order), 1), ord("\n"), np.uint8)
    return np.hstack([cols[0], cols[1], cols[2], newline]).tobytes()


def write_spec7(path: str | os.PathLike, wave_a: np.ndarray, flux: np.ndarray,
                blackbody: np.ndarray, rng: np.random.Generator, *, compress: bool = False,
                shuffled_blocks: int = 3, duplicate_rows: int = 4) -> int:
    """Write one grid file atomically (bz2 when ``compress``); return its size [bytes]."""
    body = spec7_bytes(wave_a, flux, blackbody, rng, shuffled_blocks, duplicate_rows)
    if compress:
        body = bz2.compress(body, compresslevel=9)
    with atomic_path(path) as tmp:
        tmp.write_bytes(body)
    return len(body)
