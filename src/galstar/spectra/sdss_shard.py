"""Preprocess a shard of SDSS spectrum files: the kept tensor and a table of all objects.

Each file is read (:func:`galstar.spectra.sdss.read_spectrum`) and gridded
(:func:`galstar.spectra.sdss_grid.to_grid`) on its own; a file that fails costs only
its row, which records why. ``reject_reason`` is ``unreadable_spectrum`` (the file
cannot be read: ``reject_detail`` ``missing_file``, ``not_fits``, ``truncated``,
``missing_hdu:COADD``, ``missing_hdu:SPECOBJ``, ``missing_column``, ``format``) or
``bad_spectrum`` (it reads but cannot be used: ``nonfinite_flux``, ``all_masked``,
``no_coverage``, ``bad_normalisation``, ``bad_wavelength``); ``reject_message`` has
the full text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galstar.spectra.errors import Rejected, SpectrumFormatError
from galstar.spectra.sdss import Spectrum, object_id_from_path, read_spectrum
from galstar.spectra.sdss_grid import (
    DEFAULT_SDSS_GRID,
    SdssGridSettings,
    SpectrumGrid,
    to_grid,
)

__all__ = ["READ_DETAILS", "SdssShard", "preprocess_sdss_files"]

log = logging.getLogger(__name__)

#: ``reject_detail`` codes of ``unreadable_spectrum`` taken from the reader's message.
READ_DETAILS = ("not_fits", "truncated", "missing_hdu", "missing_column")

#: Table columns, in order.
COLUMNS = ("object_id", "source", "plate", "mjd", "fiber", "z", "z_err", "zwarning",
           "spec_class", "ra", "dec", "specobj_id", "n_pixels", "masked_fraction",
           "kept", "row", "reject_reason", "reject_detail", "reject_message")


@dataclass(frozen=True)
class SdssShard:
    """The result of :func:`preprocess_sdss_files`.

    Attributes
    ----------
    x : numpy.ndarray
        (n_kept, 2, n_pixels) float32: channel 0 the normalised, filled flux, channel 1
        the mask (1.0 masked, 0.0 good).
    ivar : numpy.ndarray
        (n_kept, n_pixels) float32 inverse variance of channel 0 (0 where masked).
    table : pandas.DataFrame
        One row per input file, in input order (:data:`COLUMNS`); ``row`` indexes
        ``x`` (-1 when rejected).
    """

    x: np.ndarray
    ivar: np.ndarray
    table: pd.DataFrame


def _read_detail(path: str, err: SpectrumFormatError) -> str:
    text = str(err)
    if text.startswith(path):
        text = text[len(path):].lstrip(": ")
    code = text.split(":", 1)[0].strip()
    if code == "missing_hdu":
        return "missing_hdu:COADD" if "COADD" in text.split(":", 2)[1] else "missing_hdu:SPECOBJ"
    return code if code in READ_DETAILS else "format"


def _row(path: str, spectrum: Spectrum | None) -> dict:
    if spectrum is None:
        return {"object_id": object_id_from_path(path), "source": path, "plate": -1,
                "mjd": -1, "fiber": -1, "z": np.nan, "z_err": np.nan, "zwarning": -1,
                "spec_class": "", "ra": np.nan, "dec": np.nan, "specobj_id": "",
                "n_pixels": 0}
    return {"object_id": spectrum.object_id, "source": path, "plate": spectrum.plate,
            "mjd": spectrum.mjd, "fiber": spectrum.fiber, "z": spectrum.z,
            "z_err": spectrum.z_err, "zwarning": spectrum.zwarning,
            "spec_class": spectrum.spec_class, "ra": spectrum.ra, "dec": spectrum.dec,
            "specobj_id": spectrum.specobj_id, "n_pixels": spectrum.n_pixels}


def preprocess_sdss_files(paths: Sequence[str | os.PathLike],
                          grid: SpectrumGrid = DEFAULT_SDSS_GRID,
                          settings: SdssGridSettings | None = None) -> SdssShard:
    """Read and grid every file; never raises for one bad file.

    Parameters
    ----------
    paths : sequence of path
        ``spec-PLATE-MJD-FIBER.fits`` files.
    grid : SpectrumGrid
    settings : SdssGridSettings, optional

    Returns
    -------
    SdssShard
    """
    settings = settings or SdssGridSettings()
    x = np.zeros((len(paths), 2, grid.n_pixels), dtype=np.float32)
    ivar = np.zeros((len(paths), grid.n_pixels), dtype=np.float32)
    rows = []
    n_kept = 0
    for p in paths:
        path = str(p)
        spectrum = None
        reason = detail = message = ""
        try:
            spectrum = read_spectrum(path)
            flux, iv, mask = to_grid(spectrum, grid, settings)
        except FileNotFoundError as err:
            reason, detail, message = "unreadable_spectrum", "missing_file", f"{path}: {err}"
        except SpectrumFormatError as err:
            reason, detail, message = "unreadable_spectrum", _read_detail(path, err), str(err)
        except Rejected as err:
            reason, detail, message = "bad_spectrum", err.code, f"{path}: {err.reason}"
        except Exception as err:  # noqa: BLE001 - one broken file must not end the shard
            log.warning("unexpected error on %s", path, exc_info=True)
            reason, detail = "unreadable_spectrum", "format"
            message = f"{path}: {type(err).__name__}: {err}"
        row = _row(path, spectrum)
        if reason:
            log.warning("rejected %s: %s (%s)", row["object_id"], reason, message)
            row.update(masked_fraction=np.nan, kept=False, row=-1, reject_reason=reason,
                       reject_detail=detail, reject_message=message)
        else:
            x[n_kept, 0] = flux
            x[n_kept, 1] = mask
            ivar[n_kept] = iv
            row.update(masked_fraction=float(mask.mean()), kept=True, row=n_kept,
                       reject_reason="", reject_detail="", reject_message="")
            n_kept += 1
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    if len(table):
        counts = table.loc[~table["kept"], ["reject_reason", "reject_detail"]].value_counts()
        log.info("SDSS spectra: %d of %d kept; rejects: %s", n_kept, len(table),
                 {" ".join(k): int(v) for k, v in counts.items()})
    return SdssShard(x=x[:n_kept].copy() if n_kept < len(paths) else x,
                     ivar=ivar[:n_kept].copy() if n_kept < len(paths) else ivar, table=table)
