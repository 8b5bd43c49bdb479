"""Synthetic spectra_from_images contract files (issue 14, H1's data contract) for tests.

Each galaxy has an age (the 4000 A break strength), a star-formation strength (the
emission lines), an AGN-like [O III] / H-beta excess and a redshift. Its rest-frame
spectrum on the contract's 1000-pixel log10-lambda grid (3.53 to 3.92) carries the
break, H-alpha, H-beta, [O II], [O III], [N II] and absorption lines, normalised to unit
median, with noise, pixel weights (inverse variance) and a masked run (weight 0,
filled); the noiseless truth is kept (NaN on the last 30 pixels where z > 0.2, as
outside a spectrum's observed range). Its grizy image (channels first, (5, S, S)) is an
exponential disc whose colours follow the age and the star formation, whose size and
brightness fall with redshift, plus a star-forming clumpy component and noise. So the
spectra's main latents are partly predictable from the images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from galstar import paths
from galstar.io import save_npy, write_parquet

__all__ = ["write_sfi_contract", "LOGLAM"]

LOGLAM = np.linspace(3.53, 3.92, 1000)
LINES = {3728.5: 0.5, 4862.7: 0.3, 5008.2: 0.2, 6564.6: 1.0, 6585.3: 0.3, 6718.3: 0.15}
ABSORPTION = {3934.8: 0.25, 3969.6: 0.2, 5176.7: 0.1, 5895.6: 0.08}


def _spectra(age, sfr, agn, rng):
    lam = 10 ** LOGLAM
    step = 0.5 * (1 + np.tanh((lam - 4000.0) / 40.0))
    d4000 = 1.1 + 0.9 * age[:, None]
    cont = (lam / 5000.0) ** (-1.0 + 1.5 * age[:, None]) * (1 / d4000 + (1 - 1 / d4000) * step)
    truth = cont.copy()
    for centre, ratio in LINES.items():
        strength = sfr * ratio * (1 + 3 * agn if centre == 5008.2 else 1.0)
        amp = 20 * strength[:, None] / (np.sqrt(2 * np.pi) * 3.0)
        truth += cont * amp * np.exp(-0.5 * ((lam - centre) / 3.0) ** 2)
    for centre, depth in ABSORPTION.items():
        truth -= cont * depth * age[:, None] * np.exp(-0.5 * ((lam - centre) / 5.0) ** 2)
    truth /= np.median(truth, axis=1, keepdims=True)
    sigma = 0.05 * np.sqrt(np.clip(truth, 0.05, None))
    flux = truth + rng.normal(size=truth.shape) * sigma
    weight = 1.0 / sigma**2
    for i in range(len(flux)):  # one masked run per spectrum, filled from the truth's shape
        start = rng.integers(0, 980)
        run = slice(start, start + rng.integers(3, 20))
        weight[i, run] = 0.0
        flux[i, run] = truth[i, run]
    return np.stack([flux, weight], axis=1).astype(np.float32), truth.astype(np.float32)


def _images(age, sfr, z, size, rng):
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(x, y)
    # g, r, i, z, y: old populations are red, star formation is blue
    colour = np.array([0.6, 0.9, 1.0, 1.05, 1.1])
    red = np.array([-0.4, -0.1, 0.0, 0.15, 0.25])
    out = np.empty((len(z), 5, size, size), np.float32)
    for n in range(len(z)):
        scale = size / 10 * (0.1 / (z[n] + 0.05)) ** 0.5
        disc = np.exp(-r / scale)
        bulge = np.exp(-r / (0.3 * scale))
        sed = colour + red * age[n] - 0.3 * red * sfr[n]
        bright = 30.0 * (0.1 / (z[n] + 0.05))
        for b in range(5):
            out[n, b] = bright * sed[b] * ((1 - age[n]) * disc + age[n] * bulge)
        out[n] += rng.normal(0, 0.3, (5, size, size))
    return np.arcsinh(out).astype(np.float32)  # stretched as the contract's preprocessing


def write_sfi_contract(root: str | Path, *, n_objects: int, n_shards: int = 2,
                       image_size: int = 24, seed: int = 0) -> dict:
    """Write the contract files below ``root`` (SFI_TABLE, SFI_IMAGES, SFI_SPECTRA,
    SFI_TRUTH, SFI_REJECTS per shard, SFI_GRID, SFI_REJECT_COUNTS); return the truth
    table and arrays."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, 1, n_objects)
    sfr = np.clip(1 - age + rng.normal(0, 0.25, n_objects), 0, None)
    agn = rng.uniform(0, 1, n_objects) * (rng.uniform(size=n_objects) < 0.3)
    z = rng.uniform(0.02, 0.3, n_objects)
    spectra, truth = _spectra(age, sfr, agn, rng)
    images = _images(age, sfr, z, image_size, rng)
    # the truth is NaN where a galaxy's spectrum does not reach (the red end at high z)
    truth[z > 0.2, -30:] = np.nan
    split = rng.choice(["train", "val", "test"], size=n_objects, p=[0.6, 0.2, 0.2])
    shard = rng.integers(0, n_shards, n_objects)
    table = pd.DataFrame({"object_id": np.arange(1, n_objects + 1, dtype=np.int64) * 7,
                          "split": split, "shard": [f"shard-{s:03d}" for s in shard],
                          "z": z, "specobjid": np.arange(n_objects, dtype=np.int64) + 10**15,
                          "age": age, "sfr": sfr, "agn": agn})
    for s in range(n_shards):
        name = f"shard-{s:03d}"
        sel = np.flatnonzero(shard == s)
        def fill(template: str, name: str = name) -> Path:
            return root / paths.fill(template, shard=name)
        write_parquet(table.iloc[sel].drop(columns=["age", "sfr", "agn"]).reset_index(drop=True),
                      fill(paths.SFI_TABLE))
        save_npy(images[sel], fill(paths.SFI_IMAGES))
        save_npy(spectra[sel], fill(paths.SFI_SPECTRA))
        save_npy(truth[sel], fill(paths.SFI_TRUTH))
        write_parquet(pd.DataFrame({"object_id": pd.Series([], dtype=np.int64),
                                    "reason": pd.Series([], dtype=str)}),
                      fill(paths.SFI_REJECTS))
    grid = {"loglam_start": 3.53, "loglam_stop": 3.92, "n_pixels": 1000,
            "normalisation": "median"}
    (root / paths.SFI_GRID).write_text(json.dumps(grid))
    pd.DataFrame({"reason": [], "count": []}).to_csv(root / paths.SFI_REJECT_COUNTS, index=False)
    return {"table": table, "images": images, "spectra": spectra, "truth": truth}
