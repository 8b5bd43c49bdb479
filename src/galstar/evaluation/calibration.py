"""Calibrated prediction intervals: raw, scaled and split-conformal, side by side.

Every method's predictions carry a per-object scale ``<t>_sigma`` (the MC-dropout
spread, or none). Three intervals ``pred +- w * sigma`` are compared on the test split:
*raw* takes sigma at face value (w = the Gaussian quantile), *scaled* multiplies sigma
by one factor fitted on the validation split (the 68 per cent quantile of
|residual| / sigma), and *conformal* (split-conformal regression, normalised by sigma
so that the intervals stay adaptive; Papadopoulos et al. 2002, Lei et al. 2018) takes w
per level from the validation scores with the finite-sample correction, which
guarantees at least the nominal coverage on exchangeable data. Without a sigma the
conformal interval is the absolute-residual one (constant width).

Where the validation split does not represent the test objects (a model trained and
validated on synthetic spectra, tested on observed stars), ``fit_split="loo"`` fits the
scale and the conformal quantile of each test object on the other test objects
(leave-one-out: valid while the model never saw them), and reports that coverage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = ["LEVELS", "coverage", "fit_sigma_scale", "conformal_quantile", "calibration_table",
           "summary_table"]

#: Nominal interval coverages reported.
LEVELS = (0.68, 0.95)


def coverage(truth: np.ndarray, centre: np.ndarray, half_width: np.ndarray) -> float:
    """Fraction of objects with |truth - centre| <= half_width."""
    r = np.abs(np.asarray(truth, float) - np.asarray(centre, float))
    return float(np.mean(r <= np.asarray(half_width, float)))


def fit_sigma_scale(truth: np.ndarray, centre: np.ndarray, sigma: np.ndarray,
                    level: float = LEVELS[0]) -> float:
    """The factor s making ``s * sigma`` cover the fraction ``level`` of the residuals,
    in units of the Gaussian quantile (s = 1: sigma is right). NaN when every sigma is 0."""
    sigma = np.asarray(sigma, float)
    ok = sigma > 0
    if not ok.any():
        return float("nan")
    z = np.abs(np.asarray(truth, float) - np.asarray(centre, float))[ok] / sigma[ok]
    return float(np.quantile(z, level) / norm.ppf(0.5 + level / 2))


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) level)-th smallest score
    (infinite when n is too small for ``level``)."""
    scores = np.sort(np.asarray(scores, float))
    n = len(scores)
    k = int(np.ceil((n + 1) * level))
    return float(scores[k - 1]) if 1 <= k <= n else float("inf")


def _sigma(frame: pd.DataFrame, target: str) -> np.ndarray:
    col = target + "_sigma"
    if col not in frame or not (frame[col].to_numpy(float) > 0).any():
        return np.ones(len(frame))  # no per-object scale: absolute residuals
    return frame[col].to_numpy(float)


def _loo_coverage(truth: np.ndarray, centre: np.ndarray, sigma: np.ndarray,
                  level: float) -> tuple[float, float]:
    """Leave-one-out coverage of the scaled and the conformal interval: each object's
    scale and quantile fitted on the others (NaN scaled coverage without a sigma)."""
    r = np.abs(truth - centre)
    scores = r / np.where(sigma > 0, sigma, np.inf)
    z = norm.ppf(0.5 + level / 2)
    scaled, conformal = [], []
    for i in range(len(r)):
        others = np.arange(len(r)) != i
        q = conformal_quantile(scores[others], level)
        conformal.append(r[i] <= q * sigma[i])
        s = fit_sigma_scale(truth[others], centre[others], sigma[others])
        scaled.append(r[i] <= s * z * sigma[i] if np.isfinite(s) else np.nan)
    return float(np.mean(scaled)), float(np.mean(conformal))


def calibration_table(predictions: pd.DataFrame, targets: Sequence[str],
                      fit_split: str = "val", eval_split: str = "test",
                      levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Per target and level: test coverage of the raw, scaled and conformal intervals.

    Parameters
    ----------
    fit_split : str
        The split the scale and the conformal quantile are fitted on, or ``"loo"``: on
        ``eval_split`` itself, leaving each object out of its own fit (the reported
        ``scale`` and ``conformal_q`` are then those of all ``eval_split`` objects, the
        ones to apply to new objects).

    Returns
    -------
    pandas.DataFrame
        target, level, N (test), fit_split, has_sigma, mean_sigma, scale (the fitted
        factor), conformal_q (the normalised half-width: interval = pred +- q * sigma),
        and coverage_raw, coverage_scaled, coverage_conformal on ``eval_split``.
    """
    loo = fit_split == "loo"
    ev = predictions[predictions["split"] == eval_split]
    fit = ev if loo else predictions[predictions["split"] == fit_split]
    if fit.empty or ev.empty:
        raise ValueError(f"calibration needs '{fit_split}' and '{eval_split}' rows")
    rows = []
    for t in targets:
        has_sigma = t + "_sigma" in ev and bool((ev[t + "_sigma"] > 0).any())
        s_fit, s_ev = _sigma(fit, t), _sigma(ev, t)
        scores = np.abs(fit[t + "_true"].to_numpy(float) - fit[t + "_pred"].to_numpy(float))
        scores = scores / np.where(s_fit > 0, s_fit, np.inf)
        scale = fit_sigma_scale(fit[t + "_true"], fit[t + "_pred"], s_fit) if has_sigma \
            else float("nan")
        for level in levels:
            z = norm.ppf(0.5 + level / 2)
            q = conformal_quantile(scores, level)
            truth, centre = ev[t + "_true"].to_numpy(float), ev[t + "_pred"].to_numpy(float)
            if loo:
                scaled, conformal = _loo_coverage(truth, centre, s_ev, level)
            else:
                scaled = coverage(truth, centre, scale * z * s_ev)
                conformal = coverage(truth, centre, q * s_ev)
            rows.append({
                "target": t, "level": level, "N": len(ev), "fit_split": fit_split,
                "has_sigma": has_sigma,
                "mean_sigma": float(s_ev.mean()) if has_sigma else np.nan,
                "scale": scale, "conformal_q": q,
                "coverage_raw": coverage(truth, centre, z * s_ev) if has_sigma else np.nan,
                "coverage_scaled": scaled if has_sigma else np.nan,
                "coverage_conformal": conformal,
            })
    return pd.DataFrame(rows)


def summary_table(tables: dict[str, str]) -> pd.DataFrame:
    """Calibration tables of several models stacked, labelled ``<method>/<model>``.

    Parameters
    ----------
    tables : dict
        Label -> path of a :func:`calibration_table` CSV.
    """
    frames = []
    for label, path in tables.items():
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError) as err:
            raise OSError(f"cannot read calibration table {path}: {err}") from err
        method, _, model = label.partition("/")
        frames.append(frame.assign(method=method, model=model))
    out = pd.concat(frames, ignore_index=True)
    return out[["method", "model", *[c for c in out.columns if c not in ("method", "model")]]]
