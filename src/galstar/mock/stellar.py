"""The stellar mock archive: a BT-Settl-like grid and CARMENES-like observed stars.

:func:`build_stellar_mock` writes, under ``root`` (e.g.
``resources/archive/mock/stellar``): ``btsettl/lte*.BT-Settl.spec.7[.bz2]`` (368 grid
nodes, :mod:`galstar.mock.btsettl`), ``carmenes/<Karmn>/car-*-sci-gtoc-{vis,nir}_A.fits``
and ``carmenes/files.txt`` (:mod:`galstar.mock.carmenes`), ``labels/literature.csv``
(Schweitzer et al. 2019 columns), ``truth/stars.parquet`` (for scoring only) and
``manifest.json`` (counts, settings, files, timings; written last, the completion
marker).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from galstar.archives.btsettl import btsettl_filename
from galstar.archives.carmenes import carmenes_filename
from galstar.io import atomic_path, write_parquet
from galstar.mock.btsettl import DF, write_spec7
from galstar.mock.carmenes import (
    karmn_id,
    literature_labels,
    obs_stamp,
    write_caracal,
    write_labels,
)
from galstar.mock.stellar_settings import StellarMockSettings
from galstar.simulate import carmenes_observing as co
from galstar.simulate import stellar_spectra as ss

__all__ = ["build_stellar_mock", "grid_windows", "STELLAR_TRUTH", "LABELS", "FILE_LIST"]

log = logging.getLogger(__name__)

STELLAR_TRUTH = "truth/stars.parquet"
LABELS = "labels/literature.csv"
FILE_LIST = "carmenes/files.txt"
#: Rest-frame margin of the grid windows beyond the orders [km/s]: any RV + BERV drawn
#: (5 sigma of 25 km/s plus 30) and room for RV-shift augmentation.
GRID_MARGIN_KMS = 250.0


def grid_windows(layouts: dict[str, co.OrderLayout], margin_kms: float = GRID_MARGIN_KMS
                 ) -> list[tuple[float, float]]:
    """Rest-frame wavelength windows [A] the model grid must cover for ``layouts``."""
    f = margin_kms / ss.C_KMS
    spans = [(w[0] * (1 - f), w[-1] * (1 + f)) for lay in layouts.values() for w in lay.wave]
    return ss.merge_windows(spans)


def _unique_ids(ra: np.ndarray, dec: np.ndarray, rng: np.random.Generator):
    """Karmn ids, moving a star a little where two would share one (real ids are unique)."""
    ids: list[str] = []
    for i in range(len(ra)):
        kid = karmn_id(ra[i], dec[i])
        while kid in ids:
            ra[i] = (ra[i] + rng.uniform(0.05, 0.5)) % 360.0
            kid = karmn_id(ra[i], dec[i])
        ids.append(kid)
    return np.array(ids)


def _wrong_shape(obs: co.ArmObservation, rng: np.random.Generator) -> str:
    """Crop one arm's arrays: drop its last order, or the last 96 pixels of each."""
    if obs.spec.shape[0] > 1 and rng.random() < 0.5:
        for name in ("wave", "spec", "sig", "cont"):
            setattr(obs, name, getattr(obs, name)[:-1])
        obs.snr = obs.snr[:-1]
        return "wrong_shape_orders"
    for name in ("wave", "spec", "sig", "cont"):
        setattr(obs, name, getattr(obs, name)[:, :-96])
    return "wrong_shape_pixels"


def build_stellar_mock(root: str | os.PathLike, n_stars: int, seed: int, *,
                       progress: bool = False, **opts: Any) -> dict[str, Any]:
    """Simulate the grid and the observed stars; write them in the real formats.

    Parameters
    ----------
    root : path
        Archive directory (e.g. ``resources/archive/mock/stellar``).
    n_stars : int
        Observed stars (the thesis: ~380 before cuts).
    seed : int
        Master seed; the archive is a pure function of the arguments.
    progress : bool
        Show tqdm bars.
    **opts
        :class:`galstar.mock.stellar_settings.StellarMockSettings` fields.

    Returns
    -------
    dict
        The manifest also written to ``root/manifest.json``.

    Notes
    -----
    ``truth/stars.parquet`` (one row per observed star): ``star_id`` (0..n-1),
    ``karmn``, true ``teff`` [K], ``logg``, ``mh``, ``vsini`` [km/s], ``rv`` (true
    stellar RV [km/s]; ``lambda_topo = lambda_rest (1 + rv/c) / (1 + berv/c)``),
    ``berv`` (as in the header), ``in_grid``, ``snr``, ``airmass``, ``pwv_mm``,
    ``continuum_slope`` (the gap's tilt), ``vis_file``, ``nir_file`` (relative to
    ``root``), ``vis_shape``, ``nir_shape`` (as written, ``"n_orders x n_px"``) and
    ``injected`` (';'-joined: ``wrong_shape_*_<arm>``, ``nan_order_<arm>``, the label
    defect). ``has_label`` says whether the star has a row in the label table.
    """
    s = StellarMockSettings.from_options(**opts)
    if int(n_stars) < 1:
        raise ValueError(f"stellar mock n_stars must be >= 1, got {n_stars}")
    if int(seed) < 0:
        raise ValueError(f"stellar mock seed must be >= 0, got {seed}")
    root = Path(root)
    t0, c0 = time.perf_counter(), time.process_time()
    streams = np.random.SeedSequence([int(seed), 4004]).spawn(5)
    rng_par, rng_obs, rng_lab, rng_grid, rng_star = (np.random.default_rng(q) for q in streams)
    lines = ss.make_line_list(s.line_list_seed)
    gap = ss.SyntheticGap(**s.gap())
    star_lines = ss.perturb_line_list(lines, gap, seed=s.line_list_seed + 1)
    layouts = {"vis": co.carmenes_layout("vis", s.vis_orders),
               "nir": co.carmenes_layout("nir", s.nir_orders)}

    # -- grid ------------------------------------------------------------------------
    windows = (grid_windows(layouts) if s.grid_coverage == "orders"
               else [tuple(s.grid_range_a)])
    grid_files, grid_bytes = [], 0
    nodes = ss.grid_nodes() if s.grid_subset is None else np.asarray(s.grid_subset)
    for teff, logg, mh in tqdm(nodes, desc="BT-Settl grid", disable=not progress):
        wave, flux = ss.model_spectrum(windows, teff, logg, mh, lines, s.native_resolving_power)
        name = btsettl_filename(teff, logg, mh, compressed=s.grid_compress)
        grid_bytes += write_spec7(root / "btsettl" / name, wave, flux,
                                  ss.blackbody_flux(wave, teff), rng_grid,
                                  compress=s.grid_compress,
                                  shuffled_blocks=s.grid_shuffled_blocks,
                                  duplicate_rows=s.grid_duplicate_rows)
        grid_files.append(f"btsettl/{name}")
    n_grid_rows = int(len(wave) + s.grid_duplicate_rows)
    t_grid, c_grid = time.perf_counter() - t0, time.process_time() - c0

    # -- observed stars ----------------------------------------------------------------
    params = ss.draw_stellar_parameters(int(n_stars), rng_par, s.outside_grid_fraction,
                                        s.slow_rotator_fraction)
    cond = co.draw_observing_conditions(int(n_stars), rng_obs, s.snr_median, s.snr_sigma_dex,
                                        s.rv_sigma_kms)
    ra = cond["ra"].to_numpy().copy()
    karmn = _unique_ids(ra, cond["dec"].to_numpy(), rng_obs)
    cond["ra"] = ra
    slope = gap.scale * rng_obs.normal(gap.continuum_slope, gap.continuum_slope_sigma,
                                       int(n_stars))
    tellurics = co.telluric_line_list()
    star_seeds = rng_star.spawn(int(n_stars))
    rows, injected_all = [], []
    for i in tqdm(range(int(n_stars)), desc="CARMENES stars", disable=not progress):
        p, c, rng = params.iloc[i], cond.iloc[i], star_seeds[i]
        date_obs, stamp = obs_stamp(float(c["mjd"]))
        injected = []
        files = {}
        wrong_arm = ("vis", "nir")[int(rng.integers(0, 2))] if (
            rng.random() < s.wrong_shape_fraction) else None
        for arm, layout in layouts.items():
            obs = co.observe_arm(layout, p["teff"], p["logg"], p["mh"], p["vsini"], c["rv"],
                                 c["berv"], c["airmass"], c["pwv_mm"], c["snr"], star_lines,
                                 rng, native_r=s.native_resolving_power,
                                 continuum_slope=float(slope[i]), tellurics=tellurics,
                                 telluric_gap_below=s.telluric_gap_below)
            co.add_cosmetics(obs, rng, cosmics_per_order=s.cosmics_per_order,
                             bad_columns_per_order=s.bad_columns_per_order,
                             nan_order_probability=s.nan_order_fraction)
            if obs.defects["nan_orders"]:
                injected.append(f"nan_order_{arm}")
            if arm == wrong_arm:
                injected.append(f"{_wrong_shape(obs, rng)}_{arm}")
            header = {
                "OBJECT": (karmn[i], "Karmn identifier"),
                "DATE-OBS": (date_obs, "UTC start of exposure"),
                "MJD-OBS": (round(float(c["mjd"]), 6), "MJD start of exposure"),
                "EXPTIME": (float(c["exptime"]), "[s] exposure time"),
                "RA": (round(float(c["ra"]), 6), "[deg] J2000"),
                "DEC": (round(float(c["dec"]), 6), "[deg] J2000"),
                "EQUINOX": 2000.0,
                "AIRMASS": (round(float(c["airmass"]), 3), "airmass at start"),
                "HIERARCH CARACAL BERV": (round(float(c["berv"]), 5),
                                          "[km/s] barycentric Earth RV"),
                "HIERARCH CARACAL BJD": (round(float(c["bjd"]), 7), "barycentric JD mid"),
            }
            name = carmenes_filename(stamp, arm)
            rel = f"carmenes/{karmn[i]}/{name}"
            write_caracal(root / rel, obs, header)
            files[arm] = (rel, f"{obs.spec.shape[0]} x {obs.spec.shape[1]}")
        injected_all.append(injected)
        rows.append({"star_id": i, "karmn": karmn[i], "vis_file": files["vis"][0],
                     "nir_file": files["nir"][0], "vis_shape": files["vis"][1],
                     "nir_shape": files["nir"][1]})
    t_stars = time.perf_counter() - t0 - t_grid
    c_stars = time.process_time() - c0 - c_grid

    labels, label_defects = literature_labels(
        karmn, params, rng_lab, teff_sigma=s.label_teff_sigma_k, logg_sigma=s.label_logg_sigma,
        mh_sigma=s.label_mh_sigma, sentinel_fraction=s.label_sentinel_fraction,
        missing_fraction=s.label_missing_fraction, unlabelled_fraction=s.unlabelled_fraction,
        extra_fraction=s.extra_label_fraction)
    write_labels(labels, root / LABELS)
    truth = pd.DataFrame(rows)
    for col in ("teff", "logg", "mh", "vsini", "in_grid"):
        truth[col] = params[col].to_numpy()
    for col in ("rv", "berv", "snr", "airmass", "pwv_mm"):
        truth[col] = cond[col].to_numpy()
    truth["continuum_slope"] = slope
    truth["has_label"] = [d != "unlabelled" for d in label_defects]
    truth["injected"] = [";".join([*inj, d] if d else inj)
                         for inj, d in zip(injected_all, label_defects, strict=True)]
    write_parquet(truth, root / STELLAR_TRUTH)
    file_list = [r[k] for r in rows for k in ("vis_file", "nir_file")]
    with atomic_path(root / FILE_LIST) as tmp:
        tmp.write_text("".join(f"{f}\n" for f in file_list))

    counts_injected = pd.Series([x for inj in truth["injected"] for x in inj.split(";") if x])
    manifest = {
        "seed": int(seed),
        "n_stars": int(n_stars),
        "settings": asdict(s),
        "btsettl": {"n_files": len(grid_files), "bytes": int(grid_bytes), "df": DF,
                    "rows_per_file": n_grid_rows, "windows_a": [list(w) for w in windows],
                    "native_resolving_power": s.native_resolving_power},
        "carmenes": {"vis_orders": layouts["vis"].orders.tolist(),
                     "nir_orders": layouts["nir"].orders.tolist(),
                     "vis_shape": list(layouts["vis"].wave.shape),
                     "nir_shape": list(layouts["nir"].wave.shape),
                     "resolving_power": co.CARMENES_R},
        "counts": {"in_grid": int(truth["in_grid"].sum()),
                   "label_rows": len(labels), "has_label": int(truth["has_label"].sum()),
                   "injected": counts_injected.value_counts().to_dict()},
        # wall and CPU seconds (CPU: what one core spends, whatever else runs)
        "timing_s": {"grid": round(t_grid, 2), "stars": round(t_stars, 2),
                     "total": round(time.perf_counter() - t0, 2),
                     "grid_cpu": round(c_grid, 2), "stars_cpu": round(c_stars, 2),
                     "total_cpu": round(time.process_time() - c0, 2)},
        "files": {"btsettl": grid_files, "carmenes_list": FILE_LIST, "labels": LABELS,
                  "truth": STELLAR_TRUTH},
    }
    with atomic_path(root / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    log.info("stellar mock %s: %d grid files (%.1f MB) in %.1fs, %d stars in %.1fs",
             root, len(grid_files), grid_bytes / 1e6, t_grid, n_stars, t_stars)
    return manifest
