"""The output table of a prediction run: every input row once, in input order, with its
input id, predictions, calibrated 1-sigma, preprocessing flags, ``in_training_sample``
and the reject reason of rows that could not be predicted; written as Parquet and as
FITS (units in TUNITn, the model's name and version as header keywords)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.inference.model_dir import ModelDirectory
from galstar.io import atomic_path, write_parquet

__all__ = ["COLUMN_UNITS", "assemble", "fits_path_of", "write_table"]

#: Units of the fixed columns (prediction columns take the model's target units).
COLUMN_UNITS = {"ra": "deg", "dec": "deg", "sep_arcsec": "arcsec", "radius_arcsec": "arcsec"}


def assemble(targets: pd.DataFrame, key: str, stage: pd.DataFrame,
             predictions: pd.DataFrame, flags: Sequence[str], in_training: np.ndarray
             ) -> pd.DataFrame:
    """Join the stages back onto the input rows.

    Parameters
    ----------
    targets : pandas.DataFrame
        One row per input row (input_row, input_id, ..., ``key``, duplicate_of,
        reject_reason: the reason found before preprocessing).
    key : str
        The column identifying a prepared object (``object_id``, a spectrum ``path``);
        repeated rows share it, so each gets the same prediction.
    stage : pandas.DataFrame
        Per prepared object: ``key``, kept, reject_reason and the ``flags`` columns.
    predictions : pandas.DataFrame
        Per predicted object: ``key`` and the prediction columns.
    in_training : numpy.ndarray
        Per input row: the object is in the model's training or validation split.
    """
    out = targets.reset_index(drop=True).copy()
    early = out["reject_reason"].fillna("").to_numpy(dtype=object)
    usable = early == ""
    st = stage.drop_duplicates(key).set_index(key)
    pr = predictions.drop_duplicates(key).set_index(key)
    keys = out[key]
    late = keys.map(st["reject_reason"].fillna("")).to_numpy(dtype=object)
    predicted = usable & keys.isin(pr.index).to_numpy()
    reasons = np.where(usable, late, early).astype(object)
    reasons[pd.isna(reasons)] = "not_prepared: missing from the preprocessing tables"
    reasons = np.where(predicted, "", reasons).astype(object)
    reasons[~predicted & (reasons == "")] = "not_predicted"
    for flag in flags:
        values = keys.map(st[flag]) if flag in st else pd.Series(np.nan, index=out.index)
        out[flag] = values.where(usable)
    for column in pr.columns:
        values = keys.map(pr[column])
        out[column] = (values.where(predicted, False).astype(bool) if pr[column].dtype == bool
                       else values.where(predicted))
    out["in_training_sample"] = np.asarray(in_training, dtype=bool) & usable
    out["predicted"] = predicted
    out["reject_reason"] = reasons
    if len(out) != len(targets) or not (out["input_row"].to_numpy()
                                        == np.arange(len(out))).all():
        raise AssertionError("output rows differ from the input rows")
    return out


def fits_path_of(parquet_path: str | os.PathLike) -> Path:
    """The FITS table written beside a Parquet output (``x.parquet`` -> ``x.fits``)."""
    path = Path(parquet_path)
    return path.with_suffix(".fits")


def write_table(table: pd.DataFrame, parquet_path: str | os.PathLike,
                fits_path: str | os.PathLike, model: ModelDirectory,
                targets_file: str | os.PathLike) -> None:
    """Write ``table`` as Parquet and as a FITS binary table (atomically, both)."""
    from astropy.io import fits
    from astropy.table import Table

    write_parquet(table, parquet_path)
    units: Mapping[str, str] = model.manifest.get("units") or {}
    fits_table = Table()
    column_units = {}
    for column in table.columns:
        values = table[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            # FITS has no nulls: False / "" where not predicted
            if pd.api.types.infer_dtype(values.dropna()) == "boolean":
                values = values.fillna(False).astype(bool)
            else:
                values = np.asarray(values.fillna("").astype(str), dtype=str)
        fits_table[column] = np.asarray(values)
        unit = COLUMN_UNITS.get(column)
        for t in model.targets:
            if column.startswith(f"{t}_") and not column.endswith("_clipped"):
                unit = units.get(t) or None
        if unit:
            column_units[column] = unit
    hdu = fits.table_to_hdu(fits_table)
    # TUNITn as strings: astropy drops logarithmic units such as dex(solMass) otherwise
    for i, column in enumerate(table.columns, start=1):
        if column in column_units:
            hdu.header[f"TUNIT{i}"] = column_units[column]
    sha = model.manifest["files"]["model.keras"][:16]
    hdu.header.update({
        "EXTNAME": "PREDICTIONS", "MODEL": model.name, "MODELVER": model.manifest["code_version"],
        "MODELSHA": (sha, "first 16 hex of the SHA-256 of model.keras"),
        "METHOD": model.method, "ARCHIVE": model.manifest.get("archive", ""),
        "TARGETS": (Path(targets_file).name[:60], "the target list"),
        "NROWS": (len(table), "input rows (each once, in input order)"),
        "NPRED": (int(table["predicted"].sum()), "rows with predictions")})
    with atomic_path(fits_path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
