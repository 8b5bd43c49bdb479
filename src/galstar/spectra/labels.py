"""Literature stellar labels (a Schweitzer et al. 2019-like CSV) with their rejects.

Columns are found by name, case- and space-insensitively: ``Karmn`` (the CARMENES id),
``Teff``, ``e_Teff``, ``logg``, and ``[M/H]`` or, if absent, ``[Fe/H]`` (both read as
``mh``; which one is recorded in ``mh_source``). A star is kept only if every required
label is a finite number, not a catalogue sentinel (-9999) and inside the grid's range;
otherwise it goes to the rejects with the first failing reason: ``duplicate_id``,
``missing: <label>``, ``sentinel: <label>=<value>`` or ``out_of_grid: <label>=<value>
not in [lo, hi]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["GRID_BOUNDS", "LabelSettings", "Labels", "read_labels"]

#: Parameter range of the synthetic grid (issue 12): Teff [K], log g [cgs], [M/H] [dex].
GRID_BOUNDS = {"teff": (2300.0, 4500.0), "logg": (4.0, 5.5), "mh": (-1.0, 0.5)}

# Output name -> accepted spellings (compared after lower-casing and removing spaces).
_ALIASES = {
    "karmn": ("karmn", "karmnid", "id"),
    "teff": ("teff",),
    "e_teff": ("e_teff", "eteff"),
    "logg": ("logg", "log(g)"),
    "e_logg": ("e_logg",),
    "mh": ("[m/h]", "m/h", "mh"),
    "e_mh": ("e_[m/h]", "e_m/h"),
    "feh": ("[fe/h]", "fe/h", "feh"),
    "e_feh": ("e_[fe/h]", "e_fe/h"),
}


@dataclass(frozen=True)
class LabelSettings:
    """Which labels are required and their accepted ranges.

    Attributes
    ----------
    required : tuple of str
        Labels a star must have (of ``teff``, ``logg``, ``mh``); a one-parameter
        experiment may require only ``("teff",)`` and keep more stars.
    bounds : dict
        Label -> (lo, hi), inclusive; stars outside the grid cannot be checked against
        it (default :data:`GRID_BOUNDS`).
    sentinels : tuple of float
        Values that mean "not measured".
    """

    required: tuple[str, ...] = ("teff", "logg", "mh")
    bounds: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: dict(GRID_BOUNDS))
    sentinels: tuple[float, ...] = (-9999.0,)


@dataclass(frozen=True)
class Labels:
    """Labels read from one file.

    Attributes
    ----------
    kept : pandas.DataFrame
        ``karmn``, ``teff``, ``e_teff``, ``logg``, ``mh`` (NaN where the file has no
        such column and it is not required) and ``mh_source``; one row per star.
    rejects : pandas.DataFrame
        ``karmn``, ``reject_reason``.
    source : str
        The file.
    """

    kept: pd.DataFrame
    rejects: pd.DataFrame
    source: str


def read_labels(path: str | os.PathLike, settings: LabelSettings = LabelSettings()) -> Labels:
    """Read a literature label CSV and split it into kept stars and rejects.

    Parameters
    ----------
    path : str or os.PathLike
        CSV (``#`` comment lines allowed).
    settings : LabelSettings

    Returns
    -------
    Labels

    Raises
    ------
    ValueError
        Naming the file: missing, empty, or without a ``Karmn`` column or a required
        label column.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such label file")
    try:
        raw = pd.read_csv(path, dtype=str, comment="#", skipinitialspace=True,
                          keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path}: empty label file") from err
    columns = _match_columns(raw.columns)
    if "mh" not in columns and "feh" in columns:
        columns["mh"], mh_source = columns.pop("feh"), "[Fe/H]"
    else:
        mh_source = "[M/H]"
    for name in ("karmn",) + tuple(settings.required):
        if name not in columns:
            wanted = "Karmn" if name == "karmn" else name
            raise ValueError(f"{path}: no {wanted} column (columns: {', '.join(raw.columns)})")
    out = pd.DataFrame({"karmn": raw[columns["karmn"]].str.strip()})
    for name in ("teff", "e_teff", "logg", "mh"):
        text = raw[columns[name]].str.strip() if name in columns else pd.Series(
            [""] * len(raw))
        out[name] = pd.to_numeric(text.replace("", np.nan), errors="coerce")
    out["mh_source"] = mh_source
    reasons = [_reason(row, settings) for row in out.itertuples(index=False)]
    dup = out["karmn"].duplicated(keep="first").to_numpy()
    blank = (out["karmn"] == "").to_numpy()
    reasons = ["missing: Karmn" if b else "duplicate_id" if d else r
               for r, d, b in zip(reasons, dup, blank, strict=True)]
    reasons = np.array(reasons, dtype=object)
    ok = reasons == ""
    kept = out[ok].reset_index(drop=True)
    rejects = pd.DataFrame({"karmn": out["karmn"][~ok].to_numpy(),
                            "reject_reason": reasons[~ok].astype(str)})
    return Labels(kept=kept, rejects=rejects, source=str(path))


def _match_columns(names) -> dict[str, str]:
    normal = {re.sub(r"\s+", "", str(n)).lower(): n for n in names}
    found = {}
    for out_name, spellings in _ALIASES.items():
        for spelling in spellings:
            if spelling in normal:
                found[out_name] = normal[spelling]
                break
    return found


def _reason(row, settings: LabelSettings) -> str:
    for name in settings.required:
        value = getattr(row, name)
        if not np.isfinite(value):
            return f"missing: {name}"
        if any(value == s for s in settings.sentinels):
            return f"sentinel: {name}={value:g}"
        lo, hi = settings.bounds.get(name, (-np.inf, np.inf))
        if not lo <= value <= hi:
            return f"out_of_grid: {name}={value:g} not in [{lo:g}, {hi:g}]"
    return ""
