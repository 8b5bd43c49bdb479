"""Decoded spectra of spectra_from_images: the VAE-decoded target and each image
network's decoded prediction for the validation galaxies, and their errors.

For every validation galaxy with a latent target, the standardised latents (the target
and each model's prediction) are decoded to rest-frame spectra
(:func:`~galstar.methods.spectra_from_images_vae.decode_targets`) and compared with the
observed spectrum (good pixels, weight > 0) and, on the mock, the noiseless truth
(``SFI_TRUTH``). :func:`decode_validation` writes the per-pixel RMS errors, a random
sample of examples (the figures' input) and one summary row per model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from galstar.methods.spectra_from_images import TARGETS

__all__ = ["REGIONS", "decode_validation", "spectrum_errors"]

#: Rest-frame zooms of the figures [A, vacuum]: H-alpha + [N II], H-beta + [O III], D4000.
REGIONS = {"H-alpha + [N II]": (6480.0, 6660.0), "H-beta + [O III]": (4820.0, 5040.0),
           "D4000 break": (3750.0, 4250.0)}
TARGET_ROW = "vae_target"


def _truth(truths: Sequence[str | os.PathLike], table: pd.DataFrame) -> np.ndarray:
    from galstar.io import load_npy

    arrays = [load_npy(p, mmap=False) for p in truths]
    for i, (path, array) in enumerate(zip(truths, arrays, strict=True)):
        if len(array) != int((table["_file"] == i).sum()):
            raise ValueError(f"{path}: {len(array)} truth spectra for "
                             f"{int((table['_file'] == i).sum())} table rows")
    return np.concatenate(arrays).astype(np.float64)


def spectrum_errors(decoded: np.ndarray, flux: np.ndarray, weight: np.ndarray,
                    truth: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per-pixel and overall RMS of ``decoded - observed`` (good pixels only), the
    reduced chi2 against the observed spectrum, and the RMS against the truth over its
    finite pixels (the truth is NaN outside a galaxy's observed rest-frame range, and
    everywhere on a live archive)."""
    good = weight > 0
    resid = np.where(good, decoded - flux, np.nan)
    diff_truth = np.where(np.isfinite(truth), decoded - truth, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings

        with warnings.catch_warnings():  # all-NaN pixels (no truth there): NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            pixel_obs = np.sqrt(np.nanmean(resid**2, axis=0))
            pixel_truth = np.sqrt(np.nanmean(diff_truth**2, axis=0))
    has_truth = np.isfinite(truth).any(axis=1)
    return {"pixel_rms_observed": pixel_obs, "pixel_rms_truth": pixel_truth,
            "rms_observed": float(np.sqrt(np.nanmean(resid**2))),
            "reduced_chi2": float(np.sum(np.where(good, weight * (decoded - flux) ** 2, 0.0))
                                  / max(int(good.sum()), 1)),
            "rms_truth": (float(np.sqrt(np.nanmean(diff_truth**2))) if has_truth.any()
                          else np.nan),
            "n_truth": int(has_truth.sum())}


def decode_validation(*, tables: Sequence[str], spectra: Sequence[str], truths: Sequence[str],
                      grid: str | os.PathLike, targets: str | os.PathLike,
                      transform: str | os.PathLike, decoder: str | os.PathLike,
                      predictions: Mapping[str, str | os.PathLike], n_examples: int, seed: int,
                      decoded_path: str | os.PathLike, errors_path: str | os.PathLike
                      ) -> pd.DataFrame:
    """Decode the validation galaxies' targets and predictions; write the examples and
    per-pixel errors (``decoded_path``, npz) and the summary (``errors_path``, CSV: one
    row per model and the VAE-decoded target, ``vae_target``)."""
    import keras

    from galstar.io import atomic_path, read_parquet
    from galstar.methods.spectra_from_images_vae import (
        decode_targets,
        load_transform,
        read_spectra,
    )

    table, flux, weight = read_spectra(tables, spectra)
    truth = _truth(truths, table)
    grid_info = json.loads(open(grid).read())
    loglam = np.linspace(float(grid_info["loglam_start"]), float(grid_info["loglam_stop"]),
                         int(grid_info["n_pixels"]))
    if len(loglam) != flux.shape[1]:
        raise ValueError(f"{grid}: {len(loglam)} grid pixels, the spectra have {flux.shape[1]}")
    latent = read_parquet(targets)
    val = latent[latent["split"] == "val"].reset_index(drop=True)
    if val.empty:
        raise ValueError(f"{targets}: no validation objects to decode")
    position = pd.Series(np.arange(len(table)), index=table["object_id"].to_numpy())
    rows = position.loc[val["object_id"].to_numpy()].to_numpy()
    flux, weight, truth = flux[rows], weight[rows], truth[rows]
    model = keras.saving.load_model(decoder, compile=False)
    chain = load_transform(transform)
    decoded = {TARGET_ROW: decode_targets(val[list(TARGETS)].to_numpy(), chain, model)}
    for name, path in predictions.items():
        pred = read_parquet(path)
        pred = pred[pred["split"] == "val"].set_index("object_id")
        missing = np.setdiff1d(val["object_id"], pred.index)
        if len(missing):
            raise ValueError(f"{path}: {len(missing)} validation objects of {targets} have no "
                             f"prediction (e.g. object_id {missing[0]})")
        latents = pred.loc[val["object_id"], [f"{t}_pred" for t in TARGETS]].to_numpy()
        decoded[name] = decode_targets(latents, chain, model)
    rng = np.random.default_rng(seed)
    examples = np.sort(rng.choice(len(val), size=min(int(n_examples), len(val)), replace=False))
    names = list(decoded)
    errors = {n: spectrum_errors(decoded[n], flux, weight, truth) for n in names}
    summary = pd.DataFrame([{"model": n, "n_val": len(val),
                             **{k: v for k, v in errors[n].items() if np.ndim(v) == 0}}
                            for n in names])
    with atomic_path(decoded_path, suffix=".npz") as tmp:
        np.savez(tmp, names=np.array(names), loglam=loglam,
                 object_id=val["object_id"].to_numpy()[examples], flux=flux[examples],
                 weight=weight[examples], truth=truth[examples],
                 decoded=np.stack([decoded[n][examples] for n in names]),
                 pixel_rms_observed=np.stack([errors[n]["pixel_rms_observed"] for n in names]),
                 pixel_rms_truth=np.stack([errors[n]["pixel_rms_truth"] for n in names]))
    with atomic_path(errors_path) as tmp:
        summary.to_csv(tmp, index=False)
    return summary
