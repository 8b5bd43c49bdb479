"""The mock's SkyServer product: MPA-JHU ``galSpecInfo JOIN galSpecExtra`` rows.

:func:`mpajhu_rows` is the forward model (SDSS ``specObjID``s, S/N, the injected
defects), :func:`write_galspec` writes ``skyserver/galSpec.fits`` and
:func:`fetch_mock_mpajhu` is what acquisition reads back from it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from galstar.io import atomic_path, write_parquet
from galstar.mock.settings import MockSettings
from galstar.mock.universe import stream_rng
from galstar.simulate.population import mpajhu_estimates
from galstar.units import nmgy_to_mag

__all__ = ["CUT_ORDER", "SN_MEDIAN_R_MIN", "SENTINELS", "MOCK_GALSPEC", "spec_obj_id",
           "expected_cut", "mpajhu_rows", "write_galspec", "read_mock_mpajhu",
           "fetch_mock_mpajhu", "mock_root_of"]

log = logging.getLogger(__name__)

#: The GalEffNet cuts in the order ``expected_cut`` names the first failure.
CUT_ORDER: tuple[str, ...] = (
    "spectrotype", "reliable", "z_positive", "z_warning", "sn_median_r", "valid_mass_ssfr",
)
#: ``sn_median_r`` threshold the truth's ``expected_cut`` refers to (the paper's 5).
SN_MEDIAN_R_MIN = 5.0
#: Missing-value sentinels of MPA-JHU.
SENTINELS = (-9999.0, -99.0, -1.0)
#: Where the mock archive keeps its MPA-JHU table, relative to its root.
MOCK_GALSPEC = Path("skyserver") / "galSpec.fits"


def spec_obj_id(plate: np.ndarray, fiber: np.ndarray, mjd: np.ndarray,
                run2d: int = 26) -> np.ndarray:
    """SDSS ``specObjID`` bit packing: plate, fiber, MJD - 50000 and run2d."""
    plate = np.asarray(plate, dtype=np.int64)
    fiber = np.asarray(fiber, dtype=np.int64)
    mjd = np.asarray(mjd, dtype=np.int64)
    return (plate << 50) | (fiber << 38) | ((mjd - 50000) << 24) | (np.int64(run2d) << 10)


def expected_cut(table: pd.DataFrame, sn_min: float = SN_MEDIAN_R_MIN) -> np.ndarray:
    """The first GalEffNet cut (in :data:`CUT_ORDER`) each MPA-JHU row fails, '' if none.

    ``valid_mass_ssfr`` means both ``lgm_fib_p50`` and ``specsfr_fib_p50`` are finite and
    not a sentinel (-9999, -99, -1); every non-sentinel value the mock writes lies inside
    the published label ranges (log M* 7.5-11.5, log sSFR -13.5 to -8).
    """
    def valid(col: str) -> np.ndarray:
        x = table[col].to_numpy(dtype=float)
        return np.isfinite(x) & ~np.isin(x, SENTINELS)

    passes = [
        table["spectrotype"].to_numpy() == "GALAXY",
        table["reliable"].to_numpy() == 1,
        table["z"].to_numpy() > 0,
        table["z_warning"].to_numpy() == 0,
        table["sn_median_r"].to_numpy() >= sn_min,
        valid("lgm_fib_p50") & valid("specsfr_fib_p50"),
    ]
    out = np.full(len(table), "", dtype=object)
    for name, ok in zip(reversed(CUT_ORDER), reversed(passes), strict=True):
        out[~ok] = name  # earlier cuts overwrite later ones
    return out


def mpajhu_rows(
    universe: pd.DataFrame, truth: pd.DataFrame, seed: int, s: MockSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The MPA-JHU forward model: the rows SkyServer would return, and their truth.

    Parameters
    ----------
    universe : pandas.DataFrame
        :func:`galstar.mock.universe.draw_universe` sources.
    truth : pandas.DataFrame
        The galaxy truth (its ``target`` rows get spectra; some get repeats).
    seed : int
        Archive seed.
    s : MockSettings
        The archive's settings (defect rates, astrometric scatter).

    Returns
    -------
    galspec : pandas.DataFrame
        ``galSpecInfo JOIN galSpecExtra`` columns, sorted by ``specObjID``.
    truth_rows : pandas.DataFrame
        Per row: ``specObjID``, ``source_id``, ``galaxy_id``, ``kind``,
        ``expected_cut``, ``injected``, ``sn_median_r``.
    """
    rng = stream_rng(seed, 30)
    tgt = truth[truth["role"] == "target"].reset_index(drop=True)
    n_t = len(tgt)
    rep = np.sort(rng.choice(n_t, size=int(round(s.repeat_fraction * n_t)), replace=False))
    gal = pd.concat([tgt, tgt.iloc[rep]], ignore_index=True)
    m = len(gal)
    est = mpajhu_estimates(
        gal.rename(columns={"logm_true": "logm", "logssfr_true": "logssfr"}), rng)
    quench = np.clip((-gal["logssfr_true"].to_numpy() - 9.8) / 2.0, 0.0, 1.0)
    mag_r = nmgy_to_mag(gal["flux_r"].to_numpy())
    sn = np.clip(10 ** rng.normal(np.log10(14.0) - 0.2 * (mag_r - 17.0), 0.12), 5.3, 80.0)
    rows = pd.DataFrame(
        {
            "source_id": gal["galaxy_id"].to_numpy(),
            "galaxy_id": gal["galaxy_id"].to_numpy(),
            "kind": "galaxy",
            "true_ra": gal["ra"].to_numpy(),
            "true_dec": gal["dec"].to_numpy(),
            "z": gal["z"].to_numpy() + rng.normal(0, 3e-5, m),
            "spectrotype": "GALAXY",
            "targettype": "GALAXY",
            "primtarget": 64,
            "subclass": np.where(quench > 0.5, "", np.where(
                gal["logssfr_true"].to_numpy() > -9.0, "STARBURST", "STARFORMING")),
            "bptclass": np.where(quench > 0.8, -1, np.where(quench > 0.4, 3, 1)),
            "v_disp": 10 ** (2.2 + 0.3 * (gal["logm_true"].to_numpy() - 10.5)
                             + rng.normal(0, 0.05, m)),
            "sn_median_r": sn,
            "reliable": 1,
            "z_warning": 0,
            "injected": "",
        }
    )
    rows = pd.concat([rows, est], axis=1)
    # Defects, independently per row.
    def flag(rate: float) -> np.ndarray:
        return rng.random(m) < rate

    inj = [[] for _ in range(m)]
    for name, rate in (("unreliable", s.unreliable_fraction),
                       ("z_warning", s.z_warning_fraction),
                       ("z_nonpositive", s.z_nonpositive_fraction),
                       ("low_sn", s.low_sn_fraction),
                       ("invalid_mass_ssfr", s.invalid_mass_fraction)):
        hit = np.flatnonzero(flag(rate))
        for i in hit:
            inj[i].append(name)
        if name == "unreliable":
            rows.loc[hit, "reliable"] = 0
        elif name == "z_warning":
            rows.loc[hit, "z_warning"] = rng.choice([4, 16, 128, 20], size=hit.size)
        elif name == "z_nonpositive":
            rows.loc[hit, "z"] = np.where(rng.random(hit.size) < 0.5, 0.0,
                                          -rng.uniform(1e-5, 5e-4, hit.size))
        elif name == "low_sn":
            rows.loc[hit, "sn_median_r"] = rng.uniform(1.0, 4.8, hit.size)
        else:
            mode = rng.integers(0, 3, hit.size)
            lgm_cols = [c for c in rows.columns if c.startswith("lgm_fib_")]
            ssfr_cols = [c for c in rows.columns if c.startswith(("specsfr_fib_", "sfr_fib_"))]
            rows.loc[hit[mode == 0], lgm_cols] = -1.0
            rows.loc[hit[mode == 1], ssfr_cols] = -9999.0
            rows.loc[hit[mode == 2], lgm_cols + ssfr_cols] = -99.0
    rows["injected"] = [";".join(v) for v in inj]

    pts = universe[universe["role"].isin(["spec_star", "qso"])].reset_index(drop=True)
    n_p = len(pts)
    is_star = (pts["role"] == "spec_star").to_numpy()
    sentinel = {c: np.full(n_p, -9999.0) for c in est.columns}
    for c in [c for c in est.columns if c.startswith("lgm_")]:
        sentinel[c] = np.full(n_p, -1.0)
    prow = pd.DataFrame(
        {
            "source_id": pts["source_id"].to_numpy(),
            "galaxy_id": -1,
            "kind": np.where(is_star, "star", "qso"),
            "true_ra": pts["ra"].to_numpy(),
            "true_dec": pts["dec"].to_numpy(),
            "z": np.where(is_star, rng.normal(0, 2e-4, n_p), pts["z"].to_numpy()),
            "spectrotype": np.where(is_star, "STAR", "QSO"),
            "targettype": np.where(is_star, "STAR", "QSO"),
            "primtarget": np.where(is_star, 2048, 1),
            "subclass": np.where(is_star, rng.choice(["F5", "G2", "K1", "K7", "M0"], n_p),
                                 "BROADLINE"),
            "bptclass": -1,
            "v_disp": -99.0,
            "sn_median_r": np.clip(10 ** rng.normal(1.3, 0.15, n_p), 5.3, 80.0),
            "reliable": 1,
            "z_warning": 0,
            "injected": "",
            **sentinel,
        }
    )
    allrows = pd.concat([rows, prow], ignore_index=True)
    n = len(allrows)
    # Plates of 600 fibres, in a random order so repeats land on other plates.
    order = rng.permutation(n)
    plate = 266 + order // 600
    fiber = 1 + order % 600
    mjd = 51600 + 3 * (plate - 266) + (plate % 7)
    allrows["specObjID"] = spec_obj_id(plate, fiber, mjd)
    allrows["plateid"] = plate.astype(np.int32)
    allrows["mjd"] = mjd.astype(np.int32)
    allrows["fiberid"] = fiber.astype(np.int32)
    sig = s.mpajhu_position_sigma_arcsec / 3600.0
    cosd = np.cos(np.radians(allrows["true_dec"].to_numpy()))
    allrows["ra"] = np.mod(allrows["true_ra"].to_numpy() + rng.normal(0, sig, n) / cosd, 360.0)
    allrows["dec"] = allrows["true_dec"].to_numpy() + rng.normal(0, sig, n)
    sn = allrows["sn_median_r"].to_numpy()
    for b, ratio in (("u", 0.25), ("g", 0.8), ("i", 1.1), ("z", 0.8)):
        allrows[f"sn_median_{b}"] = sn * ratio * 10 ** rng.normal(0, 0.05, n)
    z = allrows["z"].to_numpy()
    allrows["z_err"] = np.abs(1e-5 * (1 + np.abs(z)) * 10 ** rng.normal(0, 0.2, n))
    ebv_src = universe.set_index("source_id")["ebv"]
    allrows["e_bv_sfd"] = ebv_src.loc[allrows["source_id"]].to_numpy()
    allrows["release"] = "dr8"
    allrows["expected_cut"] = expected_cut(allrows)
    allrows = allrows.sort_values("specObjID", ignore_index=True)

    columns = (
        ["specObjID", "plateid", "mjd", "fiberid", "ra", "dec", "primtarget", "targettype",
         "spectrotype", "subclass", "z", "z_err", "z_warning", "v_disp", "sn_median_u",
         "sn_median_g", "sn_median_r", "sn_median_i", "sn_median_z", "e_bv_sfd", "release",
         "reliable", "bptclass"]
        + [f"{q}_{k}_{stat}" for q in ("lgm", "sfr", "specsfr") for k in ("tot", "fib")
           for stat in ("p2p5", "p16", "p50", "p84", "p97p5")
           + (() if q == "lgm" else ("entropy",))]
    )  # exactly what the live query returns (galSpecExtra has no _avg, _mode, lgm entropy)
    galspec = allrows[columns].copy()
    truth_rows = allrows[["specObjID", "source_id", "galaxy_id", "kind", "expected_cut",
                          "injected", "sn_median_r"]].copy()
    return galspec, truth_rows


def write_galspec(galspec: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write the MPA-JHU rows as ``galSpec.fits`` (one ``GALSPEC`` table HDU), atomically."""
    hdu = fits.BinTableHDU(Table.from_pandas(galspec), name="GALSPEC")
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp)


def mock_root_of(galspec_path: str | os.PathLike) -> Path:
    """The mock archive root, from the path of its ``skyserver/galSpec.fits``."""
    path = Path(galspec_path)
    if path.parts[-2:] != MOCK_GALSPEC.parts:
        raise ValueError(f"{path} is not <mock root>/{MOCK_GALSPEC}")
    return path.parents[1]


def read_mock_mpajhu(path: str | os.PathLike) -> pd.DataFrame:
    """Read the mock archive's ``skyserver/galSpec.fits`` as a DataFrame.

    Text columns are stripped ``str``, numbers native-endian; ``specObjID`` is int64.
    """
    try:
        table = Table.read(path, hdu=1, format="fits", character_as_bytes=False)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot read the mock MPA-JHU table {path}: {err}") from err
    frame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].astype(str).str.strip()
    if "specObjID" not in frame.columns:
        raise KeyError(f"{path}: no specObjID column")
    frame["specObjID"] = frame["specObjID"].astype(np.int64)
    return frame


def fetch_mock_mpajhu(mock_table: str | os.PathLike, out_path: str | os.PathLike) -> int:
    """Write ``resources/mock/mpajhu.parquet`` from the mock ``galSpec.fits``; return rows."""
    frame = read_mock_mpajhu(mock_table)
    write_parquet(frame, out_path)
    log.info("MPA-JHU (mock): %d rows from %s", len(frame), mock_table)
    return len(frame)
