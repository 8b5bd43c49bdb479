"""The noiseless SDSS spectra of the mock archive (truth, for scoring and truth planes).

:func:`galstar.mock.sdss_spectra.build_sdss_spectra` simulates each spectrum file around
a noiseless model (continuum and emission lines at the galaxy's true redshift, before
noise, sky residuals and masks; also in the file's COADD ``model`` column, over the
observed range only). :func:`true_spectra` evaluates that same model
(:func:`galstar.simulate.galaxy_spectra.noiseless_spectra`, from the galaxy's truth and
the drawn metallicity ``oh_true``; equal to the file's ``model`` where both exist) on a
wider grid at the file's pixel phase, so that a rest-frame truth covers the whole
rest-frame grid. Only the mock and scoring may read truth (import-linter contract).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from galstar.io import read_parquet
from galstar.mock.sdss_spectra import SDSS_TRUTH, spectrum_rows
from galstar.simulate.galaxy_spectra import (
    LOGLAM_START,
    LOGLAM_STEP,
    noiseless_spectra,
    sdss_loglam,
)

__all__ = ["true_spectra"]


def true_spectra(mock_root: str | os.PathLike, rest_range: tuple[float, float] = (3.52, 3.93)):
    """Return ``truth(specobjid) -> (loglam, model)``: the observed-frame noiseless
    spectrum [log10 A, 1e-17 erg/s/cm2/A] on the file's 1e-4 dex pixel phase, covering
    rest-frame log10(lambda) ``rest_range`` at the galaxy's true z; None for a spectrum
    the mock did not write.

    Raises
    ------
    FileNotFoundError
        When the mock archive has no SDSS spectra truth table.
    """
    root = Path(mock_root)
    if not (root / SDSS_TRUTH).is_file():
        raise FileNotFoundError(f"{root / SDSS_TRUTH}: the mock archive has no SDSS spectra "
                                "(galstar.mock.sdss_spectra.build_sdss_spectra)")
    truth = read_parquet(root / SDSS_TRUTH, columns=["specObjID", "oh_true"])
    rows, _ = spectrum_rows(root)
    rows = rows.merge(truth, on="specObjID", how="inner", validate="one_to_one")
    by_spec = {int(r.specObjID): r for r in rows.itertuples(index=False)}

    def model(specobjid: int) -> tuple[np.ndarray, np.ndarray] | None:
        r = by_spec.get(int(specobjid))
        if r is None:
            return None
        # whole pixels from LOGLAM_START: the pixel centres of every mock plate's grid
        shift = np.log10(1.0 + float(r.z_true))
        first = int(np.floor((rest_range[0] + shift - LOGLAM_START) / LOGLAM_STEP))
        n = int(np.ceil((rest_range[1] - rest_range[0]) / LOGLAM_STEP)) + 2
        loglam = sdss_loglam(LOGLAM_START + LOGLAM_STEP * first, n)
        flux = noiseless_spectra(loglam, np.array([r.z_true]),
                                 np.array([r.flux_r * r.fib_frac]),
                                 np.array([r.specsfr_fib_true]), np.array([r.lgm_fib_true]),
                                 np.array([r.oh_true]), np.array([r.dust_av]),
                                 np.array([r.v_disp]))[0]
        return loglam, flux.astype(np.float64)
    return model
