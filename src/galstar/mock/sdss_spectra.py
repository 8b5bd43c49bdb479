"""The mock's SDSS spectra: ``spec-PLATE-MJD-FIBER.fits`` under the SAS layout, and the
MPA-JHU DR7 flat files, for an existing mock archive.

:func:`build_sdss_spectra` reads the archive the DESI chain uses (``universe.parquet``
for the seed, ``truth/``, ``skyserver/galSpec.fits``) and never rewrites it: one file
per galaxy row of ``galSpec.fits`` (same plate, MJD, fibre, ``specObjID``, z, z_warning,
v_disp and median r-band S/N; simulated at the galaxy's true z, fibre flux, fibre sSFR,
mass and dust by :func:`galstar.simulate.galaxy_spectra.simulate_spectra`), written to
``<root>/sas/<release>/sdss/spectro/redux/<run2d>/spectra/lite/PPPP/``, then the DR7
files (:mod:`galstar.mock.mpajhu_dr7`), ``truth/sdss_spectra.parquet`` and last
``sdss_manifest.json`` (the completion marker).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galstar.archives.sdss_spectra import sas_spectrum_path
from galstar.io import atomic_path, read_parquet, write_parquet
from galstar.mock.mpajhu_dr7 import write_dr7_files
from galstar.mock.sdss_layout import SPZLINE_LINES, empty_records, spec_file_bytes
from galstar.mock.sdss_settings import SdssMockSettings
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.mock.universe import read_universe, stream_rng
from galstar.simulate.galaxy_spectra import (
    EMISSION_LINES,
    LOGLAM_START,
    LOGLAM_STEP,
    N_PIXELS,
    SpectrumModel,
    sdss_loglam,
    simulate_spectra,
)

__all__ = ["SDSS_MANIFEST", "SDSS_TRUTH", "build_sdss_spectra", "spectrum_rows"]

log = logging.getLogger(__name__)

#: Completion marker of the SDSS products, relative to the mock root.
SDSS_MANIFEST = Path("sdss_manifest.json")
#: Per-spectrum truth (scoring only), relative to the mock root.
SDSS_TRUTH = Path("truth") / "sdss_spectra.parquet"
#: Random stream of the spectra (the archive's other streams are 1-30).
_STREAM = 40
#: Lines counted for "lines detected" (the Balmer pair, S/N >= 3 each).
_DETECT = ("H_alpha", "H_beta")


def spectrum_rows(root: str | os.PathLike) -> tuple[pd.DataFrame, int]:
    """The galaxy rows of the archive's ``galSpec.fits`` joined with their galaxy's
    truth; and the archive seed.

    Raises
    ------
    FileNotFoundError
        When ``root`` is not a complete mock archive (its ``galSpec.fits`` is missing).
    """
    root = Path(root)
    if not (root / MOCK_GALSPEC).is_file():
        raise FileNotFoundError(f"{root / MOCK_GALSPEC}: not a complete mock archive "
                                "(build it first with galstar.mock.build_mock_archive)")
    _, meta = read_universe(root / "universe.parquet")
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    rows = read_parquet(root / "truth" / "spectra.parquet",
                        columns=["specObjID", "galaxy_id", "kind", "injected"])
    gal = read_parquet(root / "truth" / "galaxies.parquet",
                       columns=["galaxy_id", "z", "logm_true", "lgm_fib_true",
                                "specsfr_fib_true", "dust_av", "flux_r", "fib_frac"])
    out = galspec.merge(rows, on="specObjID", how="left", validate="one_to_one")
    out = out[out["kind"] == "galaxy"].merge(gal.rename(columns={"z": "z_true"}),
                                             on="galaxy_id", how="left", validate="many_to_one")
    # SPECPRIMARY: the highest-S/N spectrum of each galaxy (SDSS picks the best of repeats)
    best = out.sort_values("sn_median_r", ascending=False).drop_duplicates("galaxy_id")
    out["specprimary"] = out["specObjID"].isin(best["specObjID"]).astype(np.uint8)
    return out.sort_values("specObjID", ignore_index=True), int(meta["seed"])


def _specobj_template() -> np.ndarray:
    rec = empty_records("SPECOBJ", 1)
    for name, value in (("SURVEY", b"sdss"), ("INSTRUMENT", b"SDSS"), ("PROGRAMNAME", b"legacy"),
                        ("PLATEQUALITY", b"good"), ("FIRSTRELEASE", b"dr7"),
                        ("SOURCETYPE", b"GALAXY"), ("TARGETTYPE", b"SCIENCE"),
                        ("CLASS", b"GALAXY"), ("TFILE", b"spEigenGal-53724.fits"),
                        ("LAMBDA_EFF", 5000.0), ("BLUEFIBER", -1), ("SNTURNOFF", -9999.0),
                        ("NTURNOFF", -1), ("SPECLEGACY", 1), ("DESIGNID", -1),
                        ("NSPECOBS", 1), ("NPOLY", 3)):
        rec[name] = value
    return rec


def _spzline_template() -> np.ndarray:
    rec = empty_records("SPZLINE", len(SPZLINE_LINES))
    rec["LINENAME"] = [n.encode() for n, _ in SPZLINE_LINES]
    rec["LINEWAVE"] = [w for _, w in SPZLINE_LINES]
    rec["LINEAREA_ERR"] = -1.0  # not fitted (the simulator has no such line)
    return rec


def _write_group(rows: pd.DataFrame, loglam: np.ndarray, spec, root: Path,
                 s: SdssMockSettings, specobj0: np.ndarray, spzline0: np.ndarray) -> list[dict]:
    """Write one batch of files on one wavelength grid; return their truth rows."""
    npix = loglam.size
    wave = 10.0 ** loglam
    z_cat = rows["z"].to_numpy(float)
    truth = []
    line_index = {n: i for i, (n, _) in enumerate(SPZLINE_LINES)}
    sigma_v = np.hypot(np.maximum(rows["v_disp"].to_numpy(float), 40.0), 69.0)
    for i, row in enumerate(rows.itertuples(index=False)):
        coadd = empty_records("COADD", npix)
        coadd["flux"], coadd["loglam"], coadd["ivar"] = spec.flux[i], loglam, spec.ivar[i]
        coadd["and_mask"], coadd["or_mask"] = spec.and_mask[i], spec.or_mask[i]
        coadd["wdisp"], coadd["sky"], coadd["model"] = spec.wdisp[i], spec.sky[i], spec.model[i]
        obj = specobj0.copy()
        good = spec.ivar[i] > 0
        sn = np.where(good, spec.flux[i] * np.sqrt(spec.ivar[i]), np.nan)
        for name, value in (
            ("PLATE", row.plateid), ("MJD", row.mjd), ("FIBERID", row.fiberid),
            ("TILE", row.plateid), ("SPECTROGRAPHID", 1 if row.fiberid <= 320 else 2),
            ("PLUG_RA", row.ra), ("PLUG_DEC", row.dec), ("Z", row.z), ("Z_ERR", row.z_err),
            ("ZWARNING", row.z_warning), ("VDISP", row.v_disp),
            ("SPECPRIMARY", row.specprimary),
            ("PRIMTARGET", row.primtarget), ("LEGACY_TARGET1", row.primtarget),
            ("SUBCLASS", str(row.subclass).encode()),
            ("SPECOBJID", f"{row.specObjID:22d}".encode()),
            ("RUN2D", str(s.run2d).encode()),
            ("SN_MEDIAN", [row.sn_median_u, row.sn_median_g, row.sn_median_r,
                           row.sn_median_i, row.sn_median_z]),
            ("SN_MEDIAN_ALL", float(np.nanmedian(sn)) if good.any() else 0.0),
            ("WAVEMIN", wave[0]), ("WAVEMAX", wave[-1]),
            ("WCOVERAGE", float(good.sum()) * LOGLAM_STEP),
            ("ANYANDMASK", int(np.bitwise_or.reduce(spec.and_mask[i]))),
            ("ANYORMASK", int(np.bitwise_or.reduce(spec.or_mask[i]))),
        ):
            obj[name] = value
        lines = spzline0.copy()
        lines["PLATE"], lines["MJD"], lines["FIBERID"] = row.plateid, row.mjd, row.fiberid
        for name in EMISSION_LINES:
            k = line_index[name]
            area, snr = float(spec.line_flux[name][i]), float(spec.line_snr[name][i])
            cont = float(spec.line_cont[name][i])
            if cont <= 0:
                lines["LINEAREA_ERR"][k] = -2.0  # outside the spectrum
                continue
            lines["LINEZ"][k] = z_cat[i]
            lines["LINESIGMA"][k] = sigma_v[i]
            lines["LINEAREA"][k] = area
            lines["LINEAREA_ERR"][k] = area / snr if snr > 0 else -1.0
            lines["LINECONTLEVEL"][k] = cont
            lines["LINEEW"][k] = area / cont
        rel = sas_spectrum_path(row.plateid, row.mjd, row.fiberid, s.run2d, s.release)
        primary = {"PLATEID": int(row.plateid), "MJD": int(row.mjd),
                   "FIBERID": int(row.fiberid), "TILEID": int(row.plateid),
                   "PLUG_RA": float(row.ra), "PLUG_DEC": float(row.dec),
                   "SPEC_ID": f"{row.specObjID:22d}", "COEFF0": float(loglam[0]),
                   "NAME": f"{row.plateid:04d}-{row.mjd:05d}-01"}
        data = spec_file_bytes(primary, coadd, obj, lines)
        with atomic_path(root / rel) as tmp:
            tmp.write_bytes(data)
        snr_ha, snr_hb = (float(spec.line_snr[n][i]) for n in _DETECT)
        truth.append({
            "specObjID": int(row.specObjID), "galaxy_id": int(row.galaxy_id),
            "plate": int(row.plateid), "mjd": int(row.mjd), "fiberid": int(row.fiberid),
            "path": rel, "n_pixels": npix, "d4000_true": float(spec.d4000[i]),
            "oh_true": float(spec.oh[i]),
            "halpha_flux_true": float(spec.line_flux["H_alpha"][i]),
            "halpha_snr": snr_ha, "hbeta_snr": snr_hb,
            "lines_detected": bool(snr_ha >= 3.0 and snr_hb >= 3.0),
            "bad_spectrum": str(spec.bad[i]),
        })
    return truth


def build_sdss_spectra(root: str | os.PathLike, **opts: Any) -> dict[str, Any]:
    """Write the SDSS spectra, the DR7 flat files and their truth into a mock archive.

    Parameters
    ----------
    root : path
        An existing mock archive (:func:`galstar.mock.build_mock_archive`); its files
        are read, never changed.
    **opts
        :class:`galstar.mock.sdss_settings.SdssMockSettings` fields, validated before
        anything is written.

    Returns
    -------
    dict
        The manifest also written (last) to ``root/sdss_manifest.json``: settings,
        counts (files, bad spectra, lines detected) and files.

    Notes
    -----
    ``truth/sdss_spectra.parquet`` (one row per file): ``specObjID, galaxy_id, plate,
    mjd, fiberid, path, n_pixels, d4000_true`` (noiseless D4000n), ``oh_true``
    (12 + log O/H), ``halpha_flux_true`` [1e-17 erg/s/cm^2], ``halpha_snr, hbeta_snr``,
    ``lines_detected`` (both >= 3) and ``bad_spectrum`` ('' | dead_fibre |
    missing_blue | missing_red). Spectrum files of an earlier, larger run that are no
    longer written are removed. Plates start at loglam 3.5797 + 1e-4 (plate mod 4)
    with 3840 - (plate mod 4) pixels, so readers meet grids that differ by plate.
    """
    settings = SdssMockSettings.from_options(**opts)
    root = Path(root)
    rows, seed = spectrum_rows(root)
    if settings.n_spectra is not None:
        rows = rows.iloc[: int(settings.n_spectra)].reset_index(drop=True)
    model = replace(SpectrumModel(), sky_residual_fraction=settings.sky_residual_fraction,
                    masked_runs_mean=settings.masked_runs_mean,
                    bad_spectrum_fraction=settings.bad_spectrum_fraction)
    rng = stream_rng(seed, _STREAM)
    specobj0, spzline0 = _specobj_template(), _spzline_template()
    offset = (rows["plateid"].to_numpy() % 4).astype(int)
    truth: list[dict] = []
    for start in range(0, len(rows), settings.chunk):
        chunk = rows.iloc[start:start + settings.chunk]
        for k in np.unique(offset[start:start + settings.chunk]):
            group = chunk[offset[start:start + settings.chunk] == k].reset_index(drop=True)
            loglam = sdss_loglam(LOGLAM_START + LOGLAM_STEP * k, N_PIXELS - k)
            spec = simulate_spectra(
                group["z_true"].to_numpy(), (group["flux_r"] * group["fib_frac"]).to_numpy(),
                group["specsfr_fib_true"].to_numpy(), group["lgm_fib_true"].to_numpy(),
                group["logm_true"].to_numpy(), group["dust_av"].to_numpy(),
                group["v_disp"].to_numpy(), group["sn_median_r"].to_numpy(), rng, model,
                loglam)
            truth += _write_group(group, loglam, spec, root, settings, specobj0, spzline0)
    spectra_root = root / f"sas/{settings.release}/sdss/spectro/redux/{settings.run2d}/spectra/lite"
    keep = {root / t["path"] for t in truth}
    for stale in spectra_root.glob("*/spec-*.fits"):  # from an earlier, larger run
        if stale not in keep:
            stale.unlink()
    truth_frame = pd.DataFrame(truth)
    if len(truth_frame):
        truth_frame = truth_frame.sort_values("specObjID", ignore_index=True)
    write_parquet(truth_frame, root / SDSS_TRUTH)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    dr7 = write_dr7_files(galspec, root)
    manifest = {
        "seed": seed,
        "settings": asdict(settings),
        "counts": {
            "spectra": len(truth_frame),
            "dr7_rows": len(galspec),
            "bad_spectra": (truth_frame["bad_spectrum"].value_counts().to_dict()
                            if len(truth_frame) else {}),
            "lines_detected": int(truth_frame["lines_detected"].sum()) if len(truth_frame)
            else 0,
        },
        "files": {"spectra_root": f"sas/{settings.release}/sdss/spectro/redux/"
                                  f"{settings.run2d}/spectra/lite",
                  "dr7": dr7, "truth": str(SDSS_TRUTH)},
    }
    with atomic_path(root / SDSS_MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    log.info("mock SDSS spectra %s: %d files (%s bad), %d DR7 rows", root,
             len(truth_frame), manifest["counts"]["bad_spectra"], len(galspec))
    return manifest
