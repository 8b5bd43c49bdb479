"""Small synthetic preprocessed shards in the Stage 3 format, for tests and benchmarks.

Brightness tracks stellar mass and g-z colour tracks sSFR, so a small network can learn
both; the catalogue columns (fluxes, SHAPE_R, z, TYPE) follow the same labels so the
photometric baseline has signal too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.imaging.variants import make_variant
from galstar.io import save_npy, write_parquet

__all__ = ["write_synthetic_shards"]


def write_synthetic_shards(root: str | os.PathLike, n_objects: int = 300, n_shards: int = 2,
                           resolution: int = 64, variants: tuple[tuple[str, int], ...] = (),
                           seed: int = 0, reject_fraction: float = 0.1,
                           catalog_root: str | os.PathLike | None = None) -> dict:
    """Write ``root/shard-XXX.parquet`` and ``root/<bands>-<res>/shard-XXX.npy``.

    Parameters
    ----------
    root : path
        Plays the role of ``results/galaxies/preprocess``.
    n_objects : int
        Objects over all shards (a fraction is rejected: ``kept`` False, ``row`` -1).
    n_shards, resolution : int
    variants : tuple of (bands, resolution)
        Extra tensors besides ``grz-<resolution>``.
    seed : int
    reject_fraction : float
    catalog_root : path, optional
        Plays the role of ``results/galaxies/catalog/shards``: the cross-matched shards
        (every object, kept or not, with its catalogue columns) the baselines join.

    Returns
    -------
    dict
        ``tables``: list of Parquet paths, ``images``: {variant: list of npy paths}.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    mass = rng.uniform(8.5, 11.5, n_objects)
    quiescent = rng.random(n_objects) < 1 / (1 + np.exp(-(mass - 10.3) * 3))
    ssfr = np.where(quiescent, rng.normal(-12.0, 0.3, n_objects),
                    rng.normal(-10.0, 0.35, n_objects) - 0.2 * (mass - 10))
    radius = rng.uniform(1.5, 5.5, n_objects)  # arcsec
    z = rng.uniform(0.02, 0.3, n_objects)
    flux_r = 10 ** (0.4 * 2.5 * (mass - 10.0)) * 20.0
    colour = (ssfr + 11.0) * 0.5  # blue (star-forming) galaxies brighter in g
    fluxes = np.stack([flux_r * 10 ** (0.4 * colour), flux_r, flux_r * 10 ** (-0.4 * colour)], 1)
    yy, xx = np.mgrid[:resolution, :resolution] - (resolution - 1) / 2
    r_px = radius / 0.262 * resolution / 64 / 2.0
    profile = np.exp(-np.hypot(yy, xx)[None] / r_px[:, None, None])
    profile /= profile.sum(axis=(1, 2), keepdims=True)
    grz = profile[..., None] * fluxes[:, None, None, :]
    grz += rng.normal(0, 0.002 * np.median(fluxes), grz.shape)
    # A per-band arcsinh to [0, 1] softened at 1% of the sample's median flux: a stand-in
    # in the range of the preprocessed images, not the pipeline's colour stretch
    # (galstar.imaging.rgb.viewer_rgb): these tests need signal in [0, 1], not its look.
    grz = np.clip(np.arcsinh(grz / (0.01 * np.median(fluxes))) / 8.0, 0, 1).astype(np.float32)

    shard = rng.integers(0, n_shards, n_objects)
    split = rng.choice(np.array(["train", "val", "test"]), n_objects, p=[0.6, 0.1, 0.3])
    kept = rng.random(n_objects) >= reject_fraction
    types = rng.choice(np.array(["REX", "EXP", "DEV", "SER"]), n_objects)
    out: dict = {"tables": [], "images": {}}
    wanted = [("grz", resolution), *variants]
    for s in range(n_shards):
        sel = np.flatnonzero(shard == s)
        k = kept[sel]
        row = np.full(len(sel), -1, dtype=np.int64)
        row[k] = np.arange(k.sum())
        table = pd.DataFrame({
            "object_id": (sel + 1000).astype(np.int64), "shard": np.int16(s),
            "split": split[sel], "lgm_fib_p50": mass[sel], "specsfr_fib_p50": ssfr[sel],
            "z": z[sel], "TYPE": types[sel], "SHAPE_R": radius[sel] / 1.5,
            "FLUX_G": fluxes[sel, 0], "FLUX_R": fluxes[sel, 1], "FLUX_Z": fluxes[sel, 2],
            **{f"MW_TRANSMISSION_{b}": np.ones(len(sel)) for b in "GRZ"},
            "radius_arcsec": radius[sel], "kept": k, "row": row,
            "reject_reason": np.where(k, "", "synthetic"),
        })
        path = root / f"shard-{s:03d}.parquet"
        write_parquet(table, path)
        out["tables"].append(str(path))
        if catalog_root is not None:
            catalog = table[["object_id", "z", "TYPE", "SHAPE_R", "FLUX_G", "FLUX_R",
                             "FLUX_Z", *(f"MW_TRANSMISSION_{b}" for b in "GRZ")]]
            write_parquet(catalog, Path(catalog_root) / f"shard-{s:03d}.parquet")
        for bands, res in wanted:
            img = make_variant(grz[sel[k]], bands, res)  # the pipeline's own variants
            ipath = root / f"{bands}-{res}" / f"shard-{s:03d}.npy"
            save_npy(img, ipath)
            out["images"].setdefault(f"{bands}-{res}", []).append(str(ipath))
    return out
