"""The mock archive's truth tables: what scoring compares pipeline outputs against.

``truth/galaxies.parquet`` (one row per galaxy), ``truth/spectra.parquet`` (one row per
MPA-JHU row) and ``truth/pairs.parquet`` (MPA-JHU row x DR9 record of the same source);
columns are documented in :func:`galstar.mock.writer.build_mock_archive`. Only
``galstar.mock`` and ``galstar.scoring`` read them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from galstar.io import write_parquet

__all__ = ["TRUTH_TABLES", "primary_spectra", "cross_identify", "write_truth",
           "read_blend_truth"]

#: The truth tables, written under ``<root>/truth/<name>.parquet``.
TRUTH_TABLES: tuple[str, ...] = ("galaxies", "spectra", "pairs")


def primary_spectra(truth_rows: pd.DataFrame) -> np.ndarray:
    """Among rows passing every cut, the highest-S/N spectrum of each galaxy.

    Parameters
    ----------
    truth_rows : pandas.DataFrame
        ``specObjID``, ``galaxy_id``, ``expected_cut`` and ``sn_median_r`` per row.

    Returns
    -------
    numpy.ndarray
        Boolean ``is_primary`` per row.
    """
    ok = (truth_rows["expected_cut"] == "") & (truth_rows["galaxy_id"] > 0)
    cand = truth_rows[ok]
    best = cand.sort_values(["galaxy_id", "sn_median_r"], ascending=[True, False])
    best = best.drop_duplicates("galaxy_id", keep="first")
    return truth_rows["specObjID"].isin(best["specObjID"]).to_numpy()


def cross_identify(spectra: pd.DataFrame, galspec: pd.DataFrame,
                   dr9: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link each MPA-JHU row to the DR9 records of the same source.

    Parameters
    ----------
    spectra : pandas.DataFrame
        The MPA-JHU truth rows (``specObjID``, ``source_id``, ``galaxy_id`` ...).
    galspec : pandas.DataFrame
        The MPA-JHU rows as written (their catalogued ``ra``, ``dec``).
    dr9 : dict of str to pandas.DataFrame
        DR9 rows per region, with their ``source_id``.

    Returns
    -------
    spectra : pandas.DataFrame
        With ``n_dr9`` and ``has_dr9`` added and the private ``sn_median_r`` dropped.
    pairs : pandas.DataFrame
        ``specObjID, source_id, galaxy_id, RELEASE, BRICKID, OBJID, region,
        sep_arcsec``, sorted by (``specObjID``, ``RELEASE``).
    """
    records = pd.concat(
        [f[["source_id", "RELEASE", "BRICKID", "OBJID", "RA", "DEC"]].assign(region=r)
         for r, f in dr9.items()], ignore_index=True)
    pos = galspec[["specObjID", "ra", "dec"]]
    pairs = spectra[["specObjID", "source_id", "galaxy_id"]].merge(records, on="source_id")
    pairs = pairs.merge(pos, on="specObjID")
    dra = (pairs["RA"] - pairs["ra"]) * np.cos(np.radians(pairs["dec"]))
    pairs["sep_arcsec"] = np.hypot(dra, pairs["DEC"] - pairs["dec"]) * 3600.0
    pairs = pairs.drop(columns=["RA", "DEC", "ra", "dec"]).sort_values(
        ["specObjID", "RELEASE"], ignore_index=True)
    n_dr9 = records.groupby("source_id").size()
    spectra["n_dr9"] = spectra["source_id"].map(n_dr9).fillna(0).astype(np.int64).to_numpy()
    spectra["has_dr9"] = spectra["n_dr9"] > 0
    spectra = spectra.drop(columns=["sn_median_r"])
    return spectra, pairs


def write_truth(root: Path, galaxies: pd.DataFrame, spectra: pd.DataFrame,
                pairs: pd.DataFrame) -> list[str]:
    """Write the three truth tables under ``root/truth/`` (atomically).

    Returns
    -------
    list of str
        Their paths relative to ``root``.
    """
    tables = dict(zip(TRUTH_TABLES, (galaxies, spectra, pairs), strict=True))
    for name, table in tables.items():
        write_parquet(table, root / "truth" / f"{name}.parquet")
    return [f"truth/{n}.parquet" for n in TRUTH_TABLES]


def read_blend_truth(root: str | os.PathLike) -> pd.DataFrame | None:
    """``is_blend`` and ``n_overlapping`` per ``galaxy_id`` (None without a truth table)."""
    galaxies = Path(root) / "truth" / "galaxies.parquet"
    if not galaxies.exists():
        return None
    table = pq.read_table(galaxies, columns=["galaxy_id", "is_blend", "n_overlapping"])
    return table.to_pandas().set_index("galaxy_id")
