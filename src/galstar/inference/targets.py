"""A user's target list: read (CSV, FITS, Parquet), columns found case-insensitively,
every row validated and kept (a bad row gets a reject reason, never dropped).

Galaxy methods need positions (ra, dec in degrees; optional id and redshift); the
stellar method needs one spectrum file or URL per row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ALIASES", "TargetListError", "read_table", "find_column", "read_positions",
           "read_spectrum_list", "duplicate_of"]

#: Role -> accepted column names (compared case-insensitively), in order of preference.
ALIASES: dict[str, tuple[str, ...]] = {
    "ra": ("ra", "raj2000", "ra_icrs", "radeg", "ra_deg", "alpha", "ra_j2000"),
    "dec": ("dec", "dej2000", "decj2000", "de_icrs", "dec_icrs", "decdeg", "dec_deg",
            "delta", "dec_j2000"),
    "id": ("id", "target_id", "targetid", "object_id", "objid", "name", "source_id"),
    "z": ("z", "redshift", "zspec", "z_spec"),
    "spectrum": ("spectrum", "path", "file", "filename", "url", "spectrum_file"),
}


class TargetListError(ValueError):
    """A target list that cannot be used at all (unreadable, a required column missing)."""


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a target list by its suffix: ``.csv`` (also ``.txt``, ``.tsv``), ``.fits``
    (``.fit``, ``.fits.gz``: the first table HDU) or ``.parquet``.

    Every CSV column is read as text, so that one bad value (a string in the ra column)
    rejects its row only instead of turning the column into objects or failing; a
    blank line is a row (of empty values), so that row numbers match the file's lines.
    """
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".txt", ".tsv")):
            # blank lines are rows too (an empty entry of a one-column list)
            return pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                               sep="\t" if name.endswith(".tsv") else ",")
        if name.endswith((".fits", ".fit", ".fits.gz", ".fts")):
            from astropy.table import Table

            table = Table.read(path, format="fits")
            return table.to_pandas()
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise TargetListError(f"cannot read target list {path}: {err}") from err
    raise TargetListError(f"target list {path}: unknown format (use .csv, .fits or .parquet)")


def find_column(table: pd.DataFrame, role: str, source: str, required: bool = True
                ) -> str | None:
    """The column of ``table`` playing ``role`` (see :data:`ALIASES`), matched
    case-insensitively; a clear error naming ``source`` and the role when required."""
    lower = {str(c).strip().lower(): c for c in table.columns}
    for alias in ALIASES[role]:
        if alias in lower:
            return lower[alias]
    if required:
        raise TargetListError(f"target list {source}: no '{role}' column (looked for "
                              f"{list(ALIASES[role])}, case-insensitive; has "
                              f"{[str(c) for c in table.columns]})")
    return None


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values as float64 and whether each one was a number (strings parsed)."""
    text = values.astype(str).str.strip()
    numeric = pd.to_numeric(text.where(text != "", "nan"), errors="coerce")
    parsed = numeric.notna() | text.str.lower().isin(("nan", ""))
    return numeric.to_numpy(dtype=np.float64), parsed.to_numpy()


def _ids(table: pd.DataFrame, source: str) -> np.ndarray:
    column = find_column(table, "id", source, required=False)
    if column is None:
        return np.arange(len(table)).astype(str).astype(object)
    return table[column].astype(str).str.strip().to_numpy(dtype=object)


def read_positions(path: str | os.PathLike, need_redshift: bool = False) -> pd.DataFrame:
    """The rows of a position list, each with its reject reason ("" when usable).

    Returns
    -------
    pandas.DataFrame
        One row per input row, in order: input_row (0-based), input_id (the id column
        as text, else the row number), ra, dec [deg] (NaN where unusable), z (NaN when
        absent) and reject_reason (``bad_coordinates: ...`` or ``bad_redshift: ...``).

    Raises
    ------
    TargetListError
        Unreadable file, no ra or dec column, or no redshift column for a model that
        reads the redshift (``need_redshift``).
    """
    table = read_table(path)
    ra_col, dec_col = (find_column(table, role, str(path)) for role in ("ra", "dec"))
    z_col = find_column(table, "z", str(path), required=need_redshift)
    ra, ra_ok = _numbers(table[ra_col])
    dec, dec_ok = _numbers(table[dec_col])
    reasons = np.full(len(table), "", dtype=object)
    for i in range(len(table)):
        if not (ra_ok[i] and dec_ok[i]):
            which = ra_col if not ra_ok[i] else dec_col
            reasons[i] = f"bad_coordinates: {which} {table[which].iloc[i]!r} is not a number"
        elif not (np.isfinite(ra[i]) and np.isfinite(dec[i])):
            reasons[i] = "bad_coordinates: ra or dec is not finite"
        elif not (0.0 <= ra[i] < 360.0 and -90.0 <= dec[i] <= 90.0):
            reasons[i] = f"bad_coordinates: ({ra[i]}, {dec[i]}) outside 0 <= ra < 360, |dec| <= 90"
    if z_col is not None:
        z, z_ok = _numbers(table[z_col])
        bad_z = ~(z_ok & np.isfinite(z)) if need_redshift else np.zeros(len(z), bool)
        for i in np.flatnonzero(bad_z & (reasons == "")):
            reasons[i] = f"bad_redshift: {z_col} {table[z_col].iloc[i]!r} is not a finite number"
    else:
        z = np.full(len(table), np.nan)
    bad = reasons != ""
    return pd.DataFrame({
        "input_row": np.arange(len(table), dtype=np.int64), "input_id": _ids(table, str(path)),
        "ra": np.where(bad, np.nan, ra), "dec": np.where(bad, np.nan, dec), "z": z,
        "reject_reason": reasons})


def read_spectrum_list(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of a spectrum list: one file path or http(s) URL per row.

    Relative paths are taken relative to the directory of the list (a list travels
    with its files). Returns input_row, input_id, spectrum (absolute path or URL) and
    reject_reason (``bad_path: empty`` for an empty cell).
    """
    table = read_table(path)
    column = find_column(table, "spectrum", str(path))
    base = Path(path).resolve().parent
    values = table[column].astype(str).str.strip().to_numpy(dtype=object)
    out, reasons = [], []
    for value in values:
        if value in ("", "nan", "None"):
            out.append("")
            reasons.append("bad_path: empty")
        elif value.startswith(("http://", "https://")):
            out.append(value)
            reasons.append("")
        else:
            p = Path(value).expanduser()
            out.append(str(p if p.is_absolute() else base / p))
            reasons.append("")
    return pd.DataFrame({"input_row": np.arange(len(table), dtype=np.int64),
                         "input_id": _ids(table, str(path)),
                         "spectrum": np.asarray(out, dtype=object),
                         "reject_reason": np.asarray(reasons, dtype=object)})


def duplicate_of(keys: Sequence[object], valid: np.ndarray) -> np.ndarray:
    """Per row, the input_row of the first earlier valid row with the same key (-1 if
    none): a repeated target is predicted once and reported on every row."""
    first: dict[object, int] = {}
    out = np.full(len(keys), -1, dtype=np.int64)
    for i, (key, ok) in enumerate(zip(keys, valid, strict=True)):
        if not ok:
            continue
        if key in first:
            out[i] = first[key]
        else:
            first[key] = i
    return out
