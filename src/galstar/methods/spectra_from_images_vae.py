"""The spectrum VAE of spectra_from_images and the image models' latent targets.

:func:`train_vae` fits the InfoVAE (:mod:`galstar.models.spectrum_vae`) on the training
split's rest-frame spectra, mean-subtracted by the training split's mean spectrum, with
early stopping on the validation split. :func:`latent_targets` encodes every kept
object (the latent mean), reduces the 10-d latent to 6 by PCA and standardises the
components, both fitted on the training split only. :func:`decode_targets` inverts the
chain (standardised latents -> PCA -> decoder -> + mean spectrum) for the figures.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from galstar.methods.spectra_from_images import TARGETS, read_tables

__all__ = ["read_spectra", "train_vae", "latent_targets", "load_transform", "decode_targets",
           "reduced_chi2"]

log = logging.getLogger(__name__)


def read_spectra(tables: Sequence[str | os.PathLike], spectra: Sequence[str | os.PathLike]
                 ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every kept object's table row, flux and pixel weight, in table order.

    Returns
    -------
    table : pandas.DataFrame
        The shard tables (``_file``, ``_row`` added).
    flux, weight : numpy.ndarray
        (n, n_pixels) float32; a non-finite flux gets weight 0 (and flux 0), a negative
        or non-finite weight 0.
    """
    from galstar.io import load_npy

    table = read_tables(tables)
    fluxes, weights = [], []
    for i, path in enumerate(spectra):
        array = load_npy(path, mmap=False)
        n_table = int((table["_file"] == i).sum())
        if array.ndim != 3 or array.shape[1] != 2:
            raise ValueError(f"{path}: expected (N, 2, n_pixels) flux and weight, got "
                             f"{array.shape}")
        if len(array) != n_table:
            raise ValueError(f"{path}: {len(array)} spectra for the {n_table} rows of "
                             f"{tables[i]} (the contract aligns them row by row)")
        fluxes.append(array[:, 0])
        weights.append(array[:, 1])
    flux = np.concatenate(fluxes).astype(np.float32)
    weight = np.concatenate(weights).astype(np.float32)
    bad = ~np.isfinite(flux) | ~np.isfinite(weight) | (weight < 0)
    flux[bad], weight[bad] = 0.0, 0.0
    return table, flux, weight


def reduced_chi2(flux: np.ndarray, model: np.ndarray, weight: np.ndarray) -> float:
    """``sum w (x - m)^2 / #(w > 0)`` over every pixel of every spectrum."""
    used = weight > 0
    return float(np.sum(weight * (flux - model) ** 2) / max(int(used.sum()), 1))


def train_vae(tables: Sequence[str], spectra: Sequence[str], settings: Mapping[str, Any], *,
              seed: int, outputs: Mapping[str, str | os.PathLike]) -> dict[str, Any]:
    """Train the VAE and write ``outputs`` (encoder, decoder, normalisation, history,
    summary).

    Parameters
    ----------
    settings : mapping
        Config ``spectra_from_images.vae``: hidden, latent_dim, alpha, lambda, epochs,
        batch_size, learning_rate, patience.
    """
    import keras

    from galstar.io import atomic_path
    from galstar.models.spectrum_vae import InfoVAELoss, build_vae
    from galstar.training.device import seed_everything

    seed_everything(int(seed), False)
    table, flux, weight = read_spectra(tables, spectra)
    train = (table["split"] == "train").to_numpy()
    val = (table["split"] == "val").to_numpy()
    if train.sum() < 2 or val.sum() < 1:
        raise ValueError(f"spectra_from_images VAE: {int(train.sum())} training and "
                         f"{int(val.sum())} validation spectra in {list(tables)}; need >= 2 and 1")
    mean = flux[train].mean(axis=0)
    x = flux - mean
    n_pixels, latent = flux.shape[1], int(settings.get("latent_dim", 10))
    hidden = [int(h) for h in settings.get("hidden", [549, 110])]
    vae, encoder, decoder = build_vae(n_pixels, hidden, latent, seed=int(seed))
    vae.compile(optimizer=keras.optimizers.Adam(float(settings.get("learning_rate", 1e-3))),
                loss=InfoVAELoss(n_pixels, latent, alpha=float(settings.get("alpha", 0.0)),
                                 lambda_=float(settings.get("lambda", 100.0))))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss",
                                         patience=int(settings.get("patience", 10)),
                                         restore_best_weights=True)
    fit = vae.fit({"flux": x[train], "weight": weight[train]}, x[train],
                  validation_data=({"flux": x[val], "weight": weight[val]}, x[val]),
                  epochs=int(settings["epochs"]), batch_size=int(settings["batch_size"]),
                  shuffle=True, callbacks=[stop], verbose=0)
    history = pd.DataFrame({k: np.asarray(v, float) for k, v in fit.history.items()
                            if k in ("loss", "val_loss")})
    history.insert(0, "epoch", np.arange(1, len(history) + 1))

    z_val, _ = encoder.predict(x[val], verbose=0)
    recon = decoder.predict(z_val, verbose=0) + mean
    summary = {
        "n_train": int(train.sum()), "n_val": int(val.sum()), "n_pixels": int(n_pixels),
        "latent_dim": latent, "hidden": hidden, "epochs_run": len(history),
        "best_epoch": int(history["val_loss"].idxmin()) + 1,
        "best_val_loss": float(history["val_loss"].min()),
        # the decoded latent mean against the spectrum, and the mean spectrum alone
        "val_reduced_chi2": reduced_chi2(flux[val], recon, weight[val]),
        "val_reduced_chi2_mean_spectrum": reduced_chi2(flux[val], mean[None, :], weight[val]),
    }
    for key in ("encoder", "decoder"):
        with atomic_path(outputs[key]) as tmp:
            (encoder if key == "encoder" else decoder).save(tmp)
    with atomic_path(outputs["normalisation"], suffix=".npz") as tmp:
        np.savez(tmp, spectrum_mean=mean.astype(np.float32))
    with atomic_path(outputs["history"]) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(outputs["summary"]) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    log.info("VAE: %d epochs, best val loss %.4g at epoch %d; val reduced chi2 %.3f (mean "
             "spectrum %.3f)", summary["epochs_run"], summary["best_val_loss"],
             summary["best_epoch"], summary["val_reduced_chi2"],
             summary["val_reduced_chi2_mean_spectrum"])
    return summary


def latent_targets(tables: Sequence[str], spectra: Sequence[str], *,
                   encoder: str | os.PathLike, normalisation: str | os.PathLike,
                   targets_path: str | os.PathLike, transform_path: str | os.PathLike
                   ) -> pd.DataFrame:
    """Encode every kept object and write the standardised 6-d PCA latents.

    The PCA (10 -> 6) and the standardisation are fitted on the training split only.
    ``targets_path`` gets object_id, split, shard and ``latent_1`` ... ``latent_6``;
    ``transform_path`` what :func:`decode_targets` needs.
    """
    import keras
    from sklearn.decomposition import PCA

    from galstar.io import atomic_path, write_parquet

    table, flux, _ = read_spectra(tables, spectra)
    mean_spectrum = np.load(normalisation)["spectrum_mean"]
    model = keras.saving.load_model(encoder, compile=False)
    z, _ = model.predict(flux - mean_spectrum, verbose=0)
    z = np.asarray(z, np.float64)
    train = (table["split"] == "train").to_numpy()
    pca = PCA(n_components=len(TARGETS)).fit(z[train])
    comp = pca.transform(z)
    centre, scale = comp[train].mean(axis=0), comp[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    standard = (comp - centre) / scale
    out = table[["object_id", "split", "shard"]].copy()
    for i, name in enumerate(TARGETS):
        out[name] = standard[:, i]
    write_parquet(out.reset_index(drop=True), targets_path)
    with atomic_path(transform_path, suffix=".npz") as tmp:
        np.savez(tmp, spectrum_mean=mean_spectrum, pca_components=pca.components_,
                 pca_mean=pca.mean_, latent_centre=centre, latent_scale=scale,
                 explained_variance_ratio=pca.explained_variance_ratio_)
    log.info("latent targets: %d objects; the 6 components explain %.3f of the training "
             "latent variance", len(out), float(pca.explained_variance_ratio_.sum()))
    return out


def load_transform(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays :func:`latent_targets` wrote to ``transform_path``."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def decode_targets(latents: np.ndarray, transform: Mapping[str, np.ndarray], decoder) -> np.ndarray:
    """Standardised 6-d latents (n, 6) -> spectra (n, n_pixels) on the rest-frame grid."""
    comp = np.asarray(latents, np.float64) * transform["latent_scale"] + transform["latent_centre"]
    z = comp @ transform["pca_components"] + transform["pca_mean"]
    out = np.asarray(decoder.predict(z.astype(np.float32), verbose=0), np.float64)
    return out + transform["spectrum_mean"]
