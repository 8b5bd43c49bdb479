"""Figures of the stellar method: predicted vs literature, the synthetic gap, and one star
through the preprocessing (raw orders, stitched, smoothed, normalised, with the
matching degraded grid model on top). Wavelengths in Angstrom."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galstar.evaluation.metrics import regression_metrics  # noqa: E402
from galstar.io import atomic_path  # noqa: E402

__all__ = ["LABELS", "plot_pred_vs_true", "plot_synthetic_gap", "plot_preprocessing"]

LABELS = {"teff": r"$T_{\rm eff}$ [K]", "logg": r"$\log g$ [dex]", "mh": "[M/H] [dex]"}
_FORMAT = {"teff": "{:.0f}", "logg": "{:.3f}", "mh": "{:.3f}"}


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_pred_vs_true(pred: pd.DataFrame, targets: Sequence[str], path: str | os.PathLike,
                      title: str = "", split: str = "test") -> None:
    """Predicted against literature value per parameter, metrics in each title, the
    MC-dropout sigma as error bars where the model has one."""
    rows = pred[pred["split"] == split]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 4.8),
                             layout="constrained", squeeze=False)
    for ax, t in zip(axes[0], targets, strict=True):
        x, y = rows[f"{t}_true"].to_numpy(), rows[f"{t}_pred"].to_numpy()
        sigma = rows[f"{t}_sigma"].to_numpy() if f"{t}_sigma" in rows else None
        lo, hi = float(np.min([x.min(), y.min()])), float(np.max([x.max(), y.max()]))
        pad = 0.05 * (hi - lo or 1.0)
        ax.errorbar(x, y, yerr=sigma if sigma is not None and np.any(sigma > 0) else None,
                    fmt="o", ms=3.5, alpha=0.7, elinewidth=0.6, color="tab:blue")
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1)
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), aspect="equal",
               xlabel="literature " + LABELS.get(t, t), ylabel="predicted " + LABELS.get(t, t))
        m = regression_metrics(x, y)
        f = _FORMAT.get(t, "{:.3g}")
        ax.set_title(f"N = {m['N']}   MAE = {f.format(m['MAE'])}\nRMSE = {f.format(m['RMSE'])}"
                     f"   bias = {f.format(m['bias'])}", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    _save(fig, path)


def plot_synthetic_gap(gap: pd.DataFrame, path: str | os.PathLike) -> None:
    """MAE per parameter of each (model, target set, arm) trained on the grid (a),
    cross-validated on the observed stars (b) and fine-tuned (c)."""
    params = [p for p in ("teff", "logg", "mh") if p in set(gap["parameter"])]
    fig, axes = plt.subplots(1, max(1, len(params)), figsize=(5.2 * max(1, len(params)), 4.4),
                             layout="constrained", squeeze=False)
    colours = {"a": "tab:red", "b": "tab:green", "c": "tab:blue"}
    names = {"a": "a: synthetic", "b": "b: observed CV", "c": "c: fine-tuned"}
    for ax, p in zip(axes[0], params, strict=False):
        part = gap[gap["parameter"] == p].reset_index(drop=True)
        groups = [f"{r.model} {r.target_set} {r.arm}" for r in part.itertuples()]
        x = np.arange(len(part))
        for k, letter in enumerate("abc"):
            values = part[f"MAE_{letter}"].to_numpy(dtype=float)
            ax.bar(x + (k - 1) * 0.27, np.nan_to_num(values), 0.27, color=colours[letter],
                   label=names[letter])
            for xi, v in zip(x, values, strict=True):
                if np.isfinite(v):
                    ax.text(xi + (k - 1) * 0.27, v, _FORMAT[p].format(v), ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(x, groups, rotation=20, ha="right", fontsize=8)
        ax.set(ylabel="MAE " + LABELS[p], title=LABELS[p])
    axes[0][0].legend(fontsize=8)
    _save(fig, path)


def plot_preprocessing(spectrum_path: str, arm: str, settings, model: tuple[np.ndarray,
                       np.ndarray], resolving_power: float, labels: Mapping[str, Any],
                       node: Mapping[str, float], path: str | os.PathLike) -> None:
    """One star's arm through the chain, and the nearest grid model prepared alike.

    Parameters
    ----------
    spectrum_path : str
        The CARMENES file.
    arm : str
    settings : galstar.spectra.ObservedSettings
        The run's settings (its grid and normalisation).
    model : (wavelength, flux)
        The grid model nearest to the star's labels, as read.
    resolving_power : float
        The arm's R for the model's degradation.
    labels, node : mapping
        The star's literature labels and the model's node (teff, logg, mh), for titles.
    """
    from scipy.signal import savgol_filter

    from galstar.spectra import prepare_grid_spectrum, preprocess_observed, read_carmenes

    spec = read_carmenes(spectrum_path, arm=arm)
    prepared = preprocess_observed(spec, settings)
    if not prepared.kept:
        raise ValueError(f"{spectrum_path}: rejected ({prepared.reject_reason}); pick a kept star")
    grid = settings.grids[arm]
    synthetic = prepare_grid_spectrum(model[0], model[1], grid, resolving_power,
                                      settings.normalise)
    fig, axes = plt.subplots(4, 1, figsize=(10, 11), layout="constrained")
    for o in range(spec.n_orders):
        good = spec.good[o]
        axes[0].plot(spec.wavelength[o][good], spec.flux[o][good], lw=0.5)
    axes[0].set(ylabel="counts", title=f"{spec.object_id} {arm.upper()}: {spec.n_orders} raw "
                f"orders (blaze not removed)")
    st = prepared.stitched
    axes[1].plot(st.wavelength, st.flux, lw=0.5, color="k")
    for gap in st.gaps:
        axes[1].axvspan(gap.start, gap.stop, color="tab:orange", alpha=0.3)
    axes[1].set(ylabel="deblazed flux", title=f"stitched ({len(st.wavelength)} px, "
                f"{len(st.gaps)} gaps shaded)")
    wave = prepared.resampled.wavelength
    flux = prepared.resampled.flux / np.median(prepared.resampled.flux)
    window, order = prepared.normalised.choices[0]
    axes[2].plot(wave, flux, lw=0.4, color="0.6", label="resampled")
    axes[2].plot(wave, savgol_filter(flux, window, order), lw=0.6, color="k",
                 label=f"Savitzky-Golay {window} px, order {order} (BIC)")
    axes[2].set(ylabel="flux / median", title=f"on the arm grid ({grid.n_pixels} px), smoothed")
    axes[2].legend(fontsize=8)
    axes[3].plot(wave, prepared.normalised.flux, lw=0.6, color="k", label="observed")
    axes[3].plot(wave, synthetic.normalised.flux, lw=0.6, color="tab:red", alpha=0.8,
                 label=f"grid {node['teff']:.0f} K / {node['logg']:.1f} / {node['mh'] + 0.0:+.1f}, "
                       f"R = {resolving_power:,.0f}")
    axes[3].set(xlabel=r"wavelength [$\AA$]", ylabel="normalised flux",
                title=f"normalised ({len(prepared.normalised.choices)} passes); literature "
                      f"{labels['teff']:.0f} K / {labels['logg']:.2f} / {labels['mh']:+.2f}")
    axes[3].legend(fontsize=8)
    _save(fig, path)


def preprocessing_example(spectra_path: str, grid_path: str, sample_path: str,
                          observed_path: str, arm: str, settings: Mapping[str, Any],
                          resolving_power: float, path: str | os.PathLike) -> None:
    """:func:`plot_preprocessing` for the first star (by Karmn id) with labels and a kept
    ``arm`` spectrum, against the grid model nearest to its labels (distance in steps
    of 100 K, 0.5 dex, 0.5 dex)."""
    from galstar.io import read_parquet
    from galstar.methods.stellar_data import observed_settings
    from galstar.spectra import read_btsettl

    sample = read_parquet(sample_path)
    usable = sample[(sample["label_reason"] == "") & (sample[f"{arm}_row"] >= 0)]
    if usable.empty:
        raise ValueError(f"{sample_path}: no star with labels and a kept {arm} spectrum")
    star = usable.iloc[0]
    observed = read_parquet(observed_path)
    source = observed.loc[observed["row"] == star[f"{arm}_row"], "source"].iloc[0]
    grid = read_parquet(grid_path)
    grid = grid[grid["status"] == "ok"].reset_index(drop=True)
    distance = (((grid["teff"] - star["teff"]) / 100.0) ** 2
                + ((grid["logg"] - star["logg"]) / 0.5) ** 2
                + ((grid["mh"] - star["mh"]) / 0.5) ** 2)
    node = grid.loc[int(np.argmin(distance.to_numpy()))]
    w, f = read_btsettl(node["path"])
    chain = observed_settings(arm, dict(settings), dict(settings))
    plot_preprocessing(source, arm, chain, (w, f), float(resolving_power),
                       star[["teff", "logg", "mh"]].to_dict(),
                       node[["teff", "logg", "mh"]].to_dict(), path)
