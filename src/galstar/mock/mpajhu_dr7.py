"""The mock's MPA-JHU DR7 flat files: ``gal_info_dr7_v5_2.fits`` and
``gal_totsfr_dr7_v5_2.fits``, row-aligned (row i of both is one spectrum).

Derived from the mock's ``galSpec.fits`` rows, so the two products agree: MEDIAN, P2P5,
P16, P84, P97P5 and ENTROPY are ``sfr_tot_p50`` ... ``sfr_tot_entropy``; AVG and MODE,
which SkyServer does not serve, are the mean and mode of the same two-piece normal PDF
the mock draws (:func:`galstar.simulate.population.mpajhu_estimates`), whose lower and
upper widths are p50 - p16 and p84 - p50. Quiescent (line-less) galaxies have the broad
PDFs of a D4000-based estimate (Brinchmann et al. 2004). Rows without an estimate (stars,
quasars) carry -9999 and FLAG = 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.io import atomic_path

__all__ = ["GAL_INFO_NAME", "GAL_TOTSFR_NAME", "DR7_DIR", "SFR_STATISTICS",
           "dr7_tables", "write_dr7_files"]

GAL_INFO_NAME = "gal_info_dr7_v5_2.fits"
GAL_TOTSFR_NAME = "gal_totsfr_dr7_v5_2.fits"
#: Where the mock keeps them, relative to its root (the MPA site's ``SDSS/DR7/Data``).
DR7_DIR = Path("mpa") / "SDSS" / "DR7" / "Data"
#: The eight SFR statistics of ``gal_totsfr`` (log10 Msun/yr; ENTROPY in nats).
SFR_STATISTICS = ("AVG", "ENTROPY", "MEDIAN", "MODE", "P16", "P2P5", "P84", "P97P5")
_MISSING = -9999.0


def dr7_tables(galspec: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``gal_info`` and ``gal_totsfr`` rows from the mock's galSpec rows.

    Parameters
    ----------
    galspec : pandas.DataFrame
        :func:`galstar.mock.skyserver.read_mock_mpajhu` rows.

    Returns
    -------
    gal_info, gal_totsfr : pandas.DataFrame
        Row-aligned, sorted by (PLATEID, MJD, FIBERID).
    """
    g = galspec.sort_values(["plateid", "mjd", "fiberid"], ignore_index=True)
    info = pd.DataFrame({
        "PLATEID": g["plateid"].to_numpy(np.int32), "MJD": g["mjd"].to_numpy(np.int32),
        "FIBERID": g["fiberid"].to_numpy(np.int32), "RA": g["ra"].to_numpy(np.float32),
        "DEC": g["dec"].to_numpy(np.float32),
        "PRIMTARGET": g["primtarget"].to_numpy(np.int32),
        "SECTARGET": np.zeros(len(g), np.int32),
        "TARGETTYPE": g["targettype"].astype(str).to_numpy(),
        "SPECTROTYPE": g["spectrotype"].astype(str).to_numpy(),
        "SUBCLASS": g["subclass"].astype(str).to_numpy(),
        "Z": g["z"].to_numpy(np.float32), "Z_ERR": g["z_err"].to_numpy(np.float32),
        "Z_WARNING": g["z_warning"].to_numpy(np.int32),
        "V_DISP": g["v_disp"].to_numpy(np.float32),
        "SN_MEDIAN": g["sn_median_r"].to_numpy(np.float32),
        "E_BV_SFD": g["e_bv_sfd"].to_numpy(np.float32),
        "RELEASE": np.full(len(g), "dr7"),
    })
    p50 = g["sfr_tot_p50"].to_numpy(float)
    p16, p84 = g["sfr_tot_p16"].to_numpy(float), g["sfr_tot_p84"].to_numpy(float)
    lo, hi = p50 - p16, p84 - p50
    skew = hi - lo
    missing = np.isin(p50, (-9999.0, -99.0, -1.0)) | ~np.isfinite(p50)
    stats = {
        "AVG": p50 + 0.5 * np.sqrt(2.0 / np.pi) * skew,  # mean of the two-piece normal
        "ENTROPY": g["sfr_tot_entropy"].to_numpy(float),
        "MEDIAN": p50,
        "MODE": p50 - 0.3 * skew,
        "P16": p16, "P2P5": g["sfr_tot_p2p5"].to_numpy(float),
        "P84": p84, "P97P5": g["sfr_tot_p97p5"].to_numpy(float),
    }
    totsfr = pd.DataFrame({k: np.where(missing, _MISSING, v).astype(np.float32)
                           for k, v in stats.items()})
    totsfr = totsfr[["MEDIAN", "P2P5", "P16", "P84", "P97P5", "MODE", "AVG", "ENTROPY"]]
    totsfr["FLAG"] = missing.astype(np.int32)
    return info, totsfr


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    cols = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype == object or values.dtype.kind == "U":
            width = max(1, max((len(str(v)) for v in values), default=1))
            cols.append(fits.Column(name=name, format=f"{width}A",
                                    array=np.asarray(values, dtype=f"S{width}")))
        else:
            code = {"f4": "E", "f8": "D", "i4": "J", "i8": "K", "i2": "I"}[values.dtype.str[1:]]
            cols.append(fits.Column(name=name, format=code, array=values))
    hdu = fits.BinTableHDU.from_columns(cols)
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)


def write_dr7_files(galspec: pd.DataFrame, root: str | os.PathLike) -> list[str]:
    """Write both DR7 flat files under ``root/`` :data:`DR7_DIR` (atomically).

    Returns
    -------
    list of str
        Their paths relative to ``root``.
    """
    info, totsfr = dr7_tables(galspec)
    out = []
    for name, frame in ((GAL_INFO_NAME, info), (GAL_TOTSFR_NAME, totsfr)):
        _write_table(frame, Path(root) / DR7_DIR / name)
        out.append(str(DR7_DIR / name))
    return out
