"""Synthetic SDSS contract files (docs/contracts.md, multimodal) for tests.

Galaxies are star-forming or quiescent. Their spectra, on the contract's observed-frame
log-lambda grid, carry a 4000 A break (stronger for old populations), emission lines
whose strength follows the SFR and absorption lines, all redshifted, plus noise and
masked runs. Their ugriz images are exponential discs whose brightness and size fall
with redshift and whose colours redden with the break and with z. The DR7 total-SFR
statistics follow the SFR, with wider PDFs where no line is detected. So every target
is learnable from the spectra, z and colours partly from the images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.io import save_npy, write_parquet

__all__ = ["write_multimodal_contract", "GRID"]

#: The contract's default grid: 3800-9200 A in 4620 log-lambda pixels.
GRID = {"loglam_start": float(np.log10(3800.0)),
        "loglam_step": float(np.log10(9200.0 / 3800.0) / 4619), "n_pixels": 4620,
        "normalise": "median", "fill": "linear"}
LINES = {3728.5: 0.6, 4862.7: 0.35, 5008.2: 0.25, 6564.6: 1.0, 6585.3: 0.35, 6718.3: 0.2}
ABSORPTION = {3934.8: 0.25, 3969.6: 0.2, 5176.7: 0.08, 5895.6: 0.08}


def _spectra(z, d4000, ew_halpha, n_pixels, rng):
    grid = dict(GRID, n_pixels=n_pixels,
                loglam_step=float(np.log10(9200.0 / 3800.0) / (n_pixels - 1)))
    lam = 10 ** (grid["loglam_start"] + grid["loglam_step"] * np.arange(n_pixels))
    rest = lam[None, :] / (1 + z[:, None])
    step = 0.5 * (1 + np.tanh((rest - 4000.0) / 40.0))  # the break at 4000 A rest
    cont = (rest / 5000.0) ** -0.5 * (1.0 / d4000[:, None] + (1 - 1.0 / d4000[:, None]) * step)
    flux = cont.copy()
    sigma_px = 2.0  # Angstrom (rest), roughly 120 km/s
    for centre, ratio in LINES.items():
        amp = ew_halpha[:, None] * ratio / (np.sqrt(2 * np.pi) * sigma_px)
        flux += cont * amp * np.exp(-0.5 * ((rest - centre) / sigma_px) ** 2)
    old = np.clip((d4000 - 1.1) / 0.9, 0, 1)[:, None]
    for centre, depth in ABSORPTION.items():
        flux -= cont * depth * old * np.exp(-0.5 * ((rest - centre) / 4.0) ** 2)
    flux += rng.normal(0, 0.04, flux.shape) * np.median(cont, axis=1, keepdims=True)
    mask = np.zeros_like(flux)
    for i in range(len(z)):
        for _ in range(rng.poisson(1.5)):
            start = rng.integers(0, n_pixels - 20)
            mask[i, start:start + rng.integers(1, 20)] = 1
    flux /= np.median(flux, axis=1, keepdims=True)
    good = np.arange(n_pixels)
    for i in range(len(z)):  # linear fill of masked pixels, as the contract's default
        bad = mask[i] > 0
        if bad.any():
            flux[i, bad] = np.interp(good[bad], good[~bad], flux[i, ~bad])
    return np.stack([flux, mask], axis=-1).astype(np.float32), grid


def _images(z, log_sfr, d4000, size, rng):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    radius_px = np.clip(3.0 * 0.1 / z, 1.5, 12.0)  # angular size falls with distance
    profile = np.exp(-np.hypot(yy, xx)[None] / radius_px[:, None, None])
    profile /= profile.sum(axis=(1, 2), keepdims=True)
    flux_r = 300.0 * (0.1 / z) ** 2 * 10 ** (0.1 * log_sfr)
    # colours [mag] redden with the break (old stars) and with redshift (k-correction)
    g_r = 0.3 + 0.9 * (d4000 - 1.2) + 1.2 * z
    colours = np.stack([1.0 + 1.5 * (d4000 - 1.2) + 1.5 * z, g_r, 0.0 * z,
                        -(0.25 + 0.2 * (d4000 - 1.2) + 0.6 * z),
                        -(0.4 + 0.3 * (d4000 - 1.2) + 1.0 * z)], axis=1)
    # mag(band) - mag(r): u-r, g-r, 0, i-r, z-r
    fluxes = flux_r[:, None] * 10 ** (-0.4 * np.array([colours[:, 0] + 0 * g_r, g_r,
                                                        0 * g_r, colours[:, 3],
                                                        colours[:, 4]]).T)
    img = profile[..., None] * fluxes[:, None, None, :]
    img += rng.normal(0, 0.02, img.shape)
    return np.arcsinh(img / 0.05).astype(np.float32)


def write_multimodal_contract(root: str | os.PathLike, n_objects: int = 400,
                              n_shards: int = 2, n_pixels: int = 4620, image_size: int = 64,
                              seed: int = 0, reject_fraction: float = 0.08) -> dict:
    """Write the SDSS tables, spectra and image tensors, the grid and the catalogue
    shards under ``root`` (a working directory), in the contract's layout.

    Returns
    -------
    dict
        ``tables``, ``image_sample``, ``spectra``, ``images``: per-shard paths; ``grid``: its path;
        ``truth``: every object's table row.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    z = rng.uniform(0.02, 0.3, n_objects)
    quiescent = rng.random(n_objects) < 0.4
    log_sfr = np.where(quiescent, rng.normal(-1.0, 0.4, n_objects),
                       rng.normal(0.4, 0.45, n_objects))
    d4000 = np.where(quiescent, rng.normal(1.85, 0.1, n_objects),
                     1.45 - 0.25 * (log_sfr - 0.4) + rng.normal(0, 0.05, n_objects))
    d4000 = np.clip(d4000, 1.05, 2.3)
    ew = np.where(quiescent, 0.5, 40.0 * 10 ** (0.5 * (log_sfr - 0.4)))
    width = np.where(quiescent, rng.uniform(0.5, 0.8, n_objects),
                     rng.uniform(0.08, 0.2, n_objects))
    stats = {"sfr_tot_median": log_sfr, "sfr_tot_avg": log_sfr - 0.1 * width,
             "sfr_tot_mode": log_sfr + 0.05 * width, "sfr_tot_p16": log_sfr - width,
             "sfr_tot_p84": log_sfr + 0.8 * width, "sfr_tot_p2p5": log_sfr - 2.1 * width,
             "sfr_tot_p97p5": log_sfr + 1.7 * width,
             "sfr_tot_entropy": 1.4 + np.log(width)}
    log_mass = np.where(quiescent, 10.8, 10.0) + rng.normal(0, 0.3, n_objects)
    spectra, grid = _spectra(z, d4000, ew, n_pixels, rng)
    images = _images(z, log_sfr, d4000, image_size, rng)

    shard = rng.integers(0, n_shards, n_objects)
    split = rng.choice(np.array(["train", "val", "test"]), n_objects, p=[0.6, 0.15, 0.25])
    reason = np.where(rng.random(n_objects) < reject_fraction,
                      rng.choice(np.array(["no_spectrum", "no_image", "no_sfr_stats"]),
                                 n_objects), "")
    out: dict = {"tables": [], "image_sample": [], "spectra": [], "images": [], "catalog": []}
    base = root / "results/galaxies/sdss"
    rows = []
    for s in range(n_shards):
        name = f"shard-{s:03d}"
        sel = np.flatnonzero(shard == s)
        r = reason[sel]
        has_spec, has_img = r != "no_spectrum", r != "no_image"
        spec_row = np.full(len(sel), -1, np.int64)
        spec_row[has_spec] = np.arange(has_spec.sum())
        img_row = np.full(len(sel), -1, np.int64)
        img_row[has_img] = np.arange(has_img.sum())
        table = pd.DataFrame({
            "object_id": (1_000_000 + sel).astype(np.int64), "split": split[sel],
            "shard": name, "specobjid": (5_000_000 + sel).astype(np.int64),
            "plateid": 266 + sel // 640, "mjd": 51602, "fiberid": 1 + sel % 640,
            "z": z[sel]})
        for key, values in stats.items():
            table[key] = np.where(r == "no_sfr_stats", np.nan, values[sel])
        table["spectrum_row"], table["image_row"] = spec_row, img_row
        table["kept"] = r == ""
        table["reject_reason"] = r
        table["reject_detail"] = ""
        # the image sample: the same without the spectra (no_spectrum objects kept)
        image_sample = table.assign(spectrum_row=-1, kept=(r == "") | (r == "no_spectrum"),
                                    reject_reason=np.where(r == "no_spectrum", "", r))
        paths = {"tables": base / f"{name}.parquet",
                 "image_sample": base / f"image_sample/{name}.parquet",
                 "spectra": base / f"spectra/{name}.npy",
                 "images": base / f"images/{name}.npy",
                 "catalog": root / f"results/galaxies/catalog/shards/{name}.parquet"}
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, paths["tables"])
        write_parquet(image_sample, paths["image_sample"])
        save_npy(spectra[sel[has_spec]], paths["spectra"])
        save_npy(images[sel[has_img]], paths["images"])
        write_parquet(pd.DataFrame({"object_id": table["object_id"], "split": split[sel],
                                    "shard": name, "z": z[sel],
                                    "lgm_tot_p50": log_mass[sel],
                                    "specsfr_tot_p50": log_sfr[sel] - log_mass[sel]}),
                      paths["catalog"])
        for key, p in paths.items():
            out[key].append(str(p))
        rows.append(table)
    out["grid"] = str(base / "spectra/grid.json")
    Path(out["grid"]).write_text(json.dumps(grid))
    out["truth"] = pd.concat(rows, ignore_index=True)
    return out
