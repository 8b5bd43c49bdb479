"""Figures of spectra_from_images: decoded spectra over the observed ones (the paper's
Fig. 1), their per-pixel errors against the observed spectra and the noiseless truth,
zooms on H-alpha, [O III] and the 4000 A break, and the VAE's training curves.

Every function reads the outputs of the compute rules (the decoded-spectra npz of
:mod:`~galstar.methods.spectra_from_images_decode`, the Table-1 CSV, the VAE history)
and writes one PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galstar.io import atomic_path  # noqa: E402
from galstar.methods.spectra_from_images_decode import REGIONS, TARGET_ROW  # noqa: E402

__all__ = ["load_decoded", "best_model", "plot_decoded_spectra", "plot_pixel_errors",
           "plot_line_zooms", "plot_truth_errors", "plot_vae_history"]


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def load_decoded(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of the decoded-spectra npz (``names`` as a list of str)."""
    with np.load(path) as data:
        out = {k: data[k] for k in data.files}
    out["names"] = [str(n) for n in out["names"]]
    return out


def best_model(table1: pd.DataFrame) -> str:
    """The image network with the lowest validation MSE (the table's ranking)."""
    nets = table1[table1["model"] != "baseline-mean"]
    return str(nets.sort_values("val_mse", kind="stable")["model"].iloc[0])


def _wave(decoded):
    return 10 ** decoded["loglam"]


def plot_decoded_spectra(decoded: Mapping[str, np.ndarray], model: str,
                         path: str | os.PathLike, n_panels: int = 6) -> None:
    """Observed spectrum (good pixels), noiseless truth where known, VAE-decoded target
    and the decoded prediction of ``model`` for random validation galaxies."""
    names, wave = list(decoded["names"]), _wave(decoded)
    n = min(n_panels, len(decoded["object_id"]))
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n + 0.5), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        good = decoded["weight"][i] > 0
        ax.plot(wave, np.where(good, decoded["flux"][i], np.nan), color="0.6", lw=0.6,
                label="observed")
        if np.isfinite(decoded["truth"][i]).any():
            ax.plot(wave, decoded["truth"][i], color="k", lw=0.6, label="noiseless truth")
        ax.plot(wave, decoded["decoded"][names.index(TARGET_ROW)][i], color="tab:blue", lw=1.0,
                label="VAE-decoded target")
        ax.plot(wave, decoded["decoded"][names.index(model)][i], color="tab:red", lw=1.0,
                label=f"decoded prediction ({model})")
        ax.set_ylabel("norm. flux")
        ax.text(0.01, 0.85, f"object {int(decoded['object_id'][i])}", transform=ax.transAxes,
                fontsize=7)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel(r"rest-frame wavelength [$\AA$]")
    _save(fig, path)


def _per_pixel(decoded, key, path, title, ylabel):
    wave = _wave(decoded)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, values in zip(decoded["names"], decoded[key], strict=True):
        ax.plot(wave, values, lw=1.4 if name == TARGET_ROW else 0.8,
                color="k" if name == TARGET_ROW else None,
                label="VAE-decoded target" if name == TARGET_ROW else name)
    if not np.isfinite(decoded[key]).any():
        ax.text(0.5, 0.5, "no noiseless truth (live archive)", transform=ax.transAxes,
                ha="center")
    ax.set_xlabel(r"rest-frame wavelength [$\AA$]")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=3)
    _save(fig, path)


def plot_pixel_errors(decoded: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Per-pixel RMS of decoded minus observed flux over the validation galaxies."""
    _per_pixel(decoded, "pixel_rms_observed", path,
               "decoded - observed, RMS over the validation galaxies (good pixels)",
               "RMS error [norm. flux]")


def plot_truth_errors(decoded: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Per-pixel RMS of decoded minus noiseless true flux (mock only)."""
    _per_pixel(decoded, "pixel_rms_truth", path,
               "decoded - noiseless truth, RMS over the validation galaxies",
               "RMS error [norm. flux]")


def plot_line_zooms(decoded: Mapping[str, np.ndarray], model: str, path: str | os.PathLike,
                    n_rows: int = 3) -> None:
    """H-alpha + [N II], H-beta + [O III] and D4000 regions of a few validation galaxies:
    observed, truth, decoded target and decoded prediction of ``model``."""
    names, wave = list(decoded["names"]), _wave(decoded)
    n = min(n_rows, len(decoded["object_id"]))
    fig, axes = plt.subplots(n, len(REGIONS), figsize=(11, 2.3 * n + 0.5), squeeze=False)
    for i in range(n):
        for j, (label, (lo, hi)) in enumerate(REGIONS.items()):
            ax, sel = axes[i, j], (wave >= lo) & (wave <= hi)
            good = decoded["weight"][i][sel] > 0
            ax.plot(wave[sel], np.where(good, decoded["flux"][i][sel], np.nan), color="0.6",
                    lw=0.7, label="observed")
            if np.isfinite(decoded["truth"][i]).any():
                ax.plot(wave[sel], decoded["truth"][i][sel], color="k", lw=0.7, label="truth")
            ax.plot(wave[sel], decoded["decoded"][names.index(TARGET_ROW)][i][sel],
                    color="tab:blue", lw=1.0, label="VAE target")
            ax.plot(wave[sel], decoded["decoded"][names.index(model)][i][sel], color="tab:red",
                    lw=1.0, label=model)
            if i == 0:
                ax.set_title(label, fontsize=9)
            if i == n - 1:
                ax.set_xlabel(r"$\lambda_{rest}$ [$\AA$]")
    axes[0, 0].legend(fontsize=6)
    _save(fig, path)


def plot_vae_history(history: pd.DataFrame, path: str | os.PathLike) -> None:
    """The VAE's training and validation InfoVAE loss per epoch."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(history["epoch"], history["loss"], label="training")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    best = int(history["val_loss"].idxmin())
    ax.axvline(history["epoch"][best], color="0.5", ls=":", label="kept epoch")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("InfoVAE loss per spectrum")
    ax.legend(fontsize=8)
    _save(fig, path)
