"""The residual 1D CNN for low Sigma_SFR (design note v1.4): target, sample, diagnostics.

The target is log Sigma_SFR = log10(SFR / (2 pi R_e^2)) [M_sun yr^-1 kpc^-2] from the
MPA-JHU total SFR and the DR9 half-light radius at the angular-diameter distance of
the galaxy. The diagnostics ask the note's question: do the predictions at the sparse
low end follow the truth, or collapse towards the median?
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import astropy.cosmology  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from astropy import units as u  # noqa: E402

from galstar.evaluation.metrics import regression_metrics  # noqa: E402
from galstar.features.photometry import feature_reject_reason, feature_table  # noqa: E402
from galstar.io import atomic_path  # noqa: E402

__all__ = ["REJECT_REASONS", "RESULT_COLUMNS", "SFR_SENTINEL_MAX", "TARGET",
           "binned_residuals", "build_sample", "get_cosmology", "log_sigma_sfr",
           "low_mask", "plot_pred_vs_true", "plot_residuals_vs_true", "results_table",
           "spread_ratio"]

TARGET = "log_sigma_sfr"
#: Target-level reject reasons, in order of precedence (the first failing one is kept).
REJECT_REASONS = ("no_redshift", "no_size", "no_sfr")
#: MPA-JHU marks a missing estimate with -9999 or -99; a log SFR at or below this is one.
SFR_SENTINEL_MAX = -99.0
#: Columns of :func:`results_table` after ``experiment``.
RESULT_COLUMNS = ("N", "MAE", "sigma", "bias", "R2", "low_N", "low_MAE", "low_sigma",
                  "spread_ratio", "spread_ratio_low")
TARGET_LABEL = r"$\log\,\Sigma_{\rm SFR}$ [M$_\odot$ yr$^{-1}$ kpc$^{-2}$]"


def get_cosmology(cosmology: str | astropy.cosmology.Cosmology) -> astropy.cosmology.Cosmology:
    """An astropy realization by name (config ``sigma_sfr.cosmology``) or the instance given."""
    if isinstance(cosmology, astropy.cosmology.Cosmology):
        return cosmology
    available = astropy.cosmology.realizations.available
    if cosmology not in available:
        raise ValueError(f"config sigma_sfr.cosmology: unknown cosmology '{cosmology}'; "
                         f"choose one of {list(available)}")
    return getattr(astropy.cosmology, cosmology)


def log_sigma_sfr(table: pd.DataFrame, cosmology: str | astropy.cosmology.Cosmology = "Planck18"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """log10 Sigma_SFR [M_sun yr^-1 kpc^-2] of each row, and why a row has none.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with MPA-JHU ``sfr_tot_p50`` (log10 SFR [M_sun/yr]) and ``z``, and DR9
        ``SHAPE_R`` (half-light radius [arcsec]).
    cosmology : str or astropy.cosmology.Cosmology
        Name of an astropy realization (``Planck18``, ``WMAP9``, ...).

    Returns
    -------
    values : numpy.ndarray
        float64 log Sigma_SFR; NaN where rejected.
    reject_reason : numpy.ndarray
        str per row: "" or the first of ``no_redshift`` (z not finite or <= 0),
        ``no_size`` (SHAPE_R not finite or <= 0: PSF sources have 0), ``no_sfr``
        (not finite or an MPA-JHU sentinel, <= :data:`SFR_SENTINEL_MAX`).

    Notes
    -----
    R_e [kpc] = SHAPE_R [rad] x D_A(z) [kpc], and Sigma_SFR = SFR / (2 pi R_e^2): half
    the SFR lies within R_e if star formation follows the light.
    """
    missing = [c for c in ("sfr_tot_p50", "z", "SHAPE_R") if c not in table.columns]
    if missing:
        raise ValueError(f"log Sigma_SFR needs column(s) {missing}, missing from the table")
    cosmo = get_cosmology(cosmology)
    z = pd.to_numeric(table["z"], errors="coerce").to_numpy(dtype=np.float64)
    size = pd.to_numeric(table["SHAPE_R"], errors="coerce").to_numpy(dtype=np.float64)
    sfr = pd.to_numeric(table["sfr_tot_p50"], errors="coerce").to_numpy(dtype=np.float64)
    bad = {
        "no_redshift": ~(np.isfinite(z) & (z > 0)),
        "no_size": ~(np.isfinite(size) & (size > 0)),
        "no_sfr": ~(np.isfinite(sfr) & (sfr > SFR_SENTINEL_MAX)),
    }
    reason = np.full(len(table), "", dtype=object)
    for name in reversed(REJECT_REASONS):
        reason[bad[name]] = name
    ok = reason == ""
    values = np.full(len(table), np.nan)
    if ok.any():
        d_a = cosmo.angular_diameter_distance(z[ok])
        r_e = ((size[ok] * u.arcsec).to(u.rad).value * d_a).to(u.kpc)
        surface = (10.0 ** sfr[ok] * u.Msun / u.yr) / (2.0 * np.pi * r_e**2)
        values[ok] = np.log10(surface.to_value(u.Msun / u.yr / u.kpc**2))
    return values, reason


def build_sample(table: pd.DataFrame, features: Sequence[str],
                 cosmology: str | astropy.cosmology.Cosmology = "Planck18",
                 source: str | None = None) -> pd.DataFrame:
    """The method's sample: every input row, its features, target and reject reason.

    Parameters
    ----------
    table : pandas.DataFrame
        Cross-matched galaxies (``object_id``, ``split``, ``shard``, MPA-JHU and DR9).
    features : sequence of str
        Feature names (config ``sigma_sfr.features``).
    cosmology : str or astropy.cosmology.Cosmology
        Config ``sigma_sfr.cosmology``.
    source : str, optional
        File the table came from, named in errors.

    Returns
    -------
    pandas.DataFrame
        object_id, split, shard, the features, ``log_sigma_sfr``, ``kept`` and
        ``reject_reason`` (a target reason first, else ``nonfinite_<feature>``, else "").
    """
    missing = [c for c in ("object_id", "split", "shard") if c not in table.columns]
    if missing:
        where = f" in {source}" if source else ""
        raise ValueError(f"the galaxy table has no column(s) {missing}{where}")
    feats = feature_table(table, features, source=source).reset_index(drop=True)
    target, reason = log_sigma_sfr(table, cosmology)
    feature_reason = feature_reject_reason(feats).to_numpy()
    reason = np.where(reason == "", feature_reason, reason)
    out = table[["object_id", "split", "shard"]].reset_index(drop=True)
    out = pd.concat([out, feats], axis=1)
    out[TARGET] = target
    out["kept"] = reason == ""
    out["reject_reason"] = reason.astype(str)
    return out


# ----------------------------------------------------------------------- diagnostics


def low_mask(true: np.ndarray, low_fraction: float = 0.2) -> np.ndarray:
    """The ceil(low_fraction x N) objects with the lowest true values (ties: stable order)."""
    t = np.asarray(true, dtype=np.float64)
    if not 0.0 < low_fraction <= 1.0:
        raise ValueError(f"low_fraction must be in (0, 1], got {low_fraction}")
    n_low = min(t.size, int(np.ceil(low_fraction * t.size - 1e-9)))
    mask = np.zeros(t.size, dtype=bool)
    mask[np.argsort(t, kind="stable")[:n_low]] = True
    return mask


def _ratio(pred: np.ndarray, true: np.ndarray) -> float:
    spread = float(np.std(true)) if true.size else 0.0
    return float(np.std(pred)) / spread if spread > 0 else float("nan")


def spread_ratio(pred: np.ndarray, true: np.ndarray, low_fraction: float = 0.2
                 ) -> dict[str, float]:
    """std(pred) / std(true), overall and among the lowest ``low_fraction`` true values.

    The collapse-to-the-median statistic: 1 when the predictions spread like the labels,
    towards 0 when they cluster at the median (std with ddof 0; NaN for a zero spread).
    """
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    low = low_mask(t, low_fraction)
    return {"overall": _ratio(p, t), "low": _ratio(p[low], t[low])}


def _metrics(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """N, MAE, sigma, bias (mean residual) and R2 from the shared metrics function."""
    m = regression_metrics(t, p)
    # evaluation.metrics renamed bias_mean -> bias and added R2; accept either version
    bias = m["bias"] if "bias" in m else m["bias_mean"]
    if "R2" in m:
        r2 = m["R2"]
    else:
        total = float(np.sum((t - t.mean()) ** 2)) if t.size else 0.0
        r2 = 1.0 - float(np.sum((p - t) ** 2)) / total if total > 0 else float("nan")
    return {"N": m["N"], "MAE": m["MAE"], "sigma": m["sigma"], "bias": bias, "R2": r2}


def _row(label: object, lo: float, hi: float, p: np.ndarray, t: np.ndarray) -> dict:
    m = _metrics(t, p)
    r = p - t
    q = np.percentile(r, [16, 50, 84]) if r.size else np.full(3, np.nan)
    return {"bin": label, "lo": lo, "hi": hi, "N": m["N"], "MAE": m["MAE"],
            "sigma": m["sigma"], "bias": m["bias"], "median": q[1], "p16": q[0],
            "p84": q[2], "spread_ratio": _ratio(p, t) if r.size else np.nan}


def binned_residuals(pred: np.ndarray, target: np.ndarray, n_bins: int = 8,
                     low_fraction: float = 0.2) -> pd.DataFrame:
    """Residual (pred - true) statistics in bins of the true value, plus a "low" row.

    Bins are equal-width in the true value between its min and max, left-closed
    ([lo, hi), the last one closed), so the sparse low end shows as bins with small N
    instead of being hidden in wide quantile bins.

    Returns
    -------
    pandas.DataFrame
        One row per bin (``bin`` = 0..n_bins-1) and a last row ``bin = "low"`` for the
        :func:`low_mask` objects: lo, hi (value range), N, MAE, sigma (std of the
        residual), bias (mean residual), median, p16, p84, spread_ratio. Empty bins
        have N = 0 and NaN statistics.
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(target, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    finite = np.isfinite(p) & np.isfinite(t)
    if not finite.all():
        raise ValueError(f"{int((~finite).sum())} non-finite prediction(s) or target(s)")
    if t.size == 0 or int(n_bins) < 1:
        raise ValueError("need at least one object and one bin")
    lo, hi = float(t.min()), float(t.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(n_bins) + 1)
    index = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, int(n_bins) - 1)
    rows = [_row(b, edges[b], edges[b + 1], p[index == b], t[index == b])
            for b in range(int(n_bins))]
    low = low_mask(t, low_fraction)
    rows.append(_row("low", lo, float(t[low].max()), p[low], t[low]))
    frame = pd.DataFrame(rows)
    frame["bin"] = frame["bin"].astype(str)
    return frame


def _columns(frame: pd.DataFrame, target: str, split: str | None) -> tuple[np.ndarray, ...]:
    need = ["split", f"{target}_true", f"{target}_pred"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"predictions have no column(s) {missing}")
    rows = frame if split is None else frame[frame["split"] == split]
    t = rows[f"{target}_true"].to_numpy(dtype=np.float64)
    p = rows[f"{target}_pred"].to_numpy(dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(p)
    return p[ok], t[ok]


def results_table(metrics_by_experiment: Mapping[str, pd.DataFrame], split: str = "test",
                  low_fraction: float = 0.2, target: str = TARGET) -> pd.DataFrame:
    """The method's comparison table: one row per experiment (baseline included).

    Parameters
    ----------
    metrics_by_experiment : mapping of str to pandas.DataFrame
        Experiment name -> its predictions (``object_id``, ``split``,
        ``<target>_true``, ``<target>_pred``, ``<target>_sigma``).
    split : str
        Rows evaluated (rows with a non-finite truth or prediction are left out).
    low_fraction : float
        The low-Sigma_SFR set: lowest fraction of the true values (:func:`low_mask`).

    Returns
    -------
    pandas.DataFrame
        experiment and :data:`RESULT_COLUMNS`: N, MAE, sigma, bias (mean residual), R2
        (1 - SS_res / SS_tot), the low set's N, MAE and sigma, and the spread ratios.
    """
    rows = []
    for name, frame in metrics_by_experiment.items():
        p, t = _columns(frame, target, split)
        if t.size == 0:
            raise ValueError(f"experiment '{name}' has no '{split}' predictions")
        m = _metrics(t, p)
        low = low_mask(t, low_fraction)
        ml = _metrics(t[low], p[low])
        rows.append({"experiment": name, "N": m["N"], "MAE": m["MAE"], "sigma": m["sigma"],
                     "bias": m["bias"], "R2": m["R2"], "low_N": ml["N"], "low_MAE": ml["MAE"],
                     "low_sigma": ml["sigma"],
                     "spread_ratio": _ratio(p, t), "spread_ratio_low": _ratio(p[low], t[low])})
    return pd.DataFrame(rows, columns=["experiment", *RESULT_COLUMNS])


# --------------------------------------------------------------------------- figures


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _panels(n: int, sharey: bool) -> tuple[plt.Figure, np.ndarray]:
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows), squeeze=False,
                             sharex=True, sharey=sharey, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_residuals_vs_true(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike,
                           split: str = "test", n_bins: int = 8, low_fraction: float = 0.2,
                           target: str = TARGET) -> None:
    """Residual against true log Sigma_SFR per experiment: points, binned median, 16-84%.

    The low set (:func:`low_mask`) is shaded; a median line bending to follow
    -(true - median) at the low end is the collapse-to-the-median signature.
    """
    if not predictions:
        raise ValueError("no experiments to plot")
    fig, axes = _panels(len(predictions), sharey=True)
    for ax, (name, frame) in zip(axes, predictions.items(), strict=False):
        p, t = _columns(frame, target, split)
        ax.plot(t, p - t, ".", ms=2, color="0.6", alpha=0.6, rasterized=True)
        if t.size:
            stats = binned_residuals(p, t, n_bins, low_fraction)
            bins = stats[stats["bin"] != "low"]
            full = bins[bins["N"] > 0]
            mid = 0.5 * (full["lo"] + full["hi"])
            ax.fill_between(mid, full["p16"], full["p84"], color="C0", alpha=0.25,
                            label="16-84%")
            ax.plot(mid, full["median"], "o-", color="C0", ms=3, label="median")
            low = stats[stats["bin"] == "low"].iloc[0]
            ax.axvspan(low["lo"], low["hi"], color="C3", alpha=0.08,
                       label=f"lowest {low_fraction:.0%}")
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set(title=name, xlabel="true " + TARGET_LABEL, ylabel="predicted - true [dex]")
    axes[0].legend(fontsize=8, loc="upper right")
    _save(fig, path)


def plot_pred_vs_true(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike,
                      split: str = "test", target: str = TARGET) -> None:
    """Predicted against true log Sigma_SFR per experiment, with the 1:1 line and MAE."""
    if not predictions:
        raise ValueError("no experiments to plot")
    fig, axes = _panels(len(predictions), sharey=True)
    for ax, (name, frame) in zip(axes, predictions.items(), strict=False):
        p, t = _columns(frame, target, split)
        ax.plot(t, p, ".", ms=2, color="C0", alpha=0.5, rasterized=True)
        if t.size:
            lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            m = regression_metrics(t, p)
            ax.text(0.04, 0.96, f"N = {m['N']}\nMAE = {m['MAE']:.3f}\n"
                    f"$\\sigma$ = {m['sigma']:.3f}", transform=ax.transAxes, va="top",
                    fontsize=8)
        ax.set(title=name, xlabel="true " + TARGET_LABEL, ylabel="predicted " + TARGET_LABEL)
    _save(fig, path)
