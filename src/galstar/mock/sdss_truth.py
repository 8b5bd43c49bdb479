"""The noiseless SDSS spectra of the mock archive (truth, for scoring and truth planes).

:func:`galstar.mock.sdss_spectra.build_sdss_spectra` writes each spectrum's noiseless
model (continuum and emission lines at the galaxy's true redshift, before noise, sky
residuals and masks) into the COADD ``model`` column of its ``spec-*.fits`` and lists
the files in ``truth/sdss_spectra.parquet``. :func:`true_spectra` reads them back by
``specObjID``; only the mock and scoring may read truth (import-linter contract).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from galstar.io import read_parquet
from galstar.mock.sdss_spectra import SDSS_TRUTH

__all__ = ["true_spectra"]


def true_spectra(mock_root: str | os.PathLike):
    """Return ``truth(specobjid) -> (loglam, model)`` (observed frame, log10 A and
    1e-17 erg/s/cm2/A), or None for a spectrum the mock did not write.

    Raises
    ------
    FileNotFoundError
        When the mock archive has no SDSS spectra truth table.
    """
    root = Path(mock_root)
    if not (root / SDSS_TRUTH).is_file():
        raise FileNotFoundError(f"{root / SDSS_TRUTH}: the mock archive has no SDSS spectra "
                                "(galstar.mock.sdss_spectra.build_sdss_spectra)")
    table = read_parquet(root / SDSS_TRUTH, columns=["specObjID", "path"])
    where = dict(zip(table["specObjID"].astype(np.int64), table["path"], strict=True))

    def truth(specobjid: int) -> tuple[np.ndarray, np.ndarray] | None:
        rel = where.get(int(specobjid))
        if rel is None:
            return None
        with fits.open(root / rel, memmap=False) as hdul:
            coadd = hdul["COADD"].data
            return (np.asarray(coadd["loglam"], np.float64),
                    np.asarray(coadd["model"], np.float64))
    return truth
