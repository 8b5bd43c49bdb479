"""Atomic file output and the table/tensor formats every stage shares.

A killed job must never leave a half-written file under its final name: Snakemake
(and a human) would take it for a finished output. Everything is written to a
temporary sibling first and renamed into place, which is atomic on POSIX. The
temporary file is given the mode a plain ``open()`` would give it under the process
umask (``tempfile.mkstemp`` creates it 0600, and that mode would survive the rename).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_path", "current_umask", "new_file_mode", "write_parquet", "read_parquet",
           "save_npy", "load_npy"]


def _umask_by_setting() -> int:
    """The umask by setting it and putting it back (not thread-safe: see current_umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import, normally before any thread of ours writes files, for systems
# without /proc (macOS); under the import lock no other import runs in between.
_IMPORT_UMASK = _umask_by_setting()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows.

    ``os.umask`` can only be read by setting it, and the umask is process-wide: a file
    created by another thread between the two calls would get the temporary value.
    Linux (>= 4.7) reports it in ``/proc/self/status``, which is read instead; elsewhere
    the umask seen when this module was imported is returned.

    Returns
    -------
    int
        The umask bits (e.g. ``0o022``).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _IMPORT_UMASK


def new_file_mode() -> int:
    """Permission bits ``open(path, "w")`` gives a new file now (``0o666 & ~umask``)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination. Parent directories are created.
    suffix : str, optional
        Suffix of the temporary file (default: the suffix of ``path``), for writers
        that choose a format from the file name.

    Yields
    ------
    pathlib.Path
        Where the caller writes, an empty file with the mode of :func:`new_file_mode`
        (so the final file has the permissions a plain ``open()`` gives). Removed if the
        block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
        dir=path.parent,
    )
    tmp_path = Path(tmp)
    try:
        try:
            os.fchmod(fd, new_file_mode())
        finally:
            os.close(fd)
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_parquet(table: pd.DataFrame | pa.Table, path: str | os.PathLike) -> None:
    """Write a table to Parquet atomically (no pandas index column)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table into pandas, naming the file if it cannot be read."""
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (OSError, pa.ArrowInvalid) as err:
        raise OSError(f"cannot read Parquet table {path}: {err}") from err


def save_npy(array: np.ndarray, path: str | os.PathLike) -> None:
    """Save an array as ``.npy`` atomically (never pickled)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def load_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` tensor, memory-mapped by default, refusing pickles."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
