"""The residual 1D CNN for low Sigma_SFR (design note v1.4): target, sample, diagnostics.

The target is log Sigma_SFR = log10(SFR / (2 pi R_e^2)) [M_sun yr^-1 kpc^-2] from the
MPA-JHU total SFR and the DR9 half-light radius at the angular-diameter distance of
the galaxy. The diagnostics ask the note's question: do the predictions at the sparse
low end follow the truth, or collapse towards the median?
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy import units as u

from galstar import paths
from galstar.evaluation.metrics import regression_metrics
from galstar.features.photometry import feature_reject_reason, feature_table
from galstar.training.experiments import resolve_experiments

if TYPE_CHECKING:  # astropy.cosmology costs seconds to import; the DAG never needs it
    import astropy.cosmology

__all__ = ["REJECT_REASONS", "RESULT_COLUMNS", "SFR_SENTINEL_MAX", "TARGET",
           "binned_residuals", "build_sample", "get_cosmology", "log_sigma_sfr",
           "low_mask", "results_table", "spread_ratio", "NAME", "SAMPLE", "experiments",
           "inputs", "load_split", "model_builder", "label_columns", "baseline_inputs",
           "baseline_table", "baseline_features", "write_sample", "summarise",
           "final_targets", "config_problems"]

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
    import astropy.cosmology

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


# ----------------------------------------------------------------- method protocol

NAME = "sigma_sfr"

#: The method's sample (every galaxy of the shared cross-match, kept or rejected).
SAMPLE = paths.fill(paths.METHOD, method="sigma_sfr") + "/sample.parquet"

REQUIRED = ("model", "epochs", "batch_size", "learning_rate")


def experiments(config: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """Every Sigma_SFR experiment, the shared and method ``training`` merged in."""
    found = resolve_experiments(config, NAME)
    features = list((config.get(NAME) or {}).get("features") or [])
    for name, exp in found.items():
        missing = [k for k in REQUIRED if k not in exp]
        if missing:
            raise ValueError(f"config sigma_sfr.experiments.{name}: missing keys {missing}")
        exp["features"] = features  # the input sequence: a change retrains every model
    return found


def config_problems(config: Mapping[str, object]) -> list[str]:
    """Cross-field constraints: a baseline reads its features from the sample, which
    holds only ``sigma_sfr.features``."""
    section = config.get(NAME) or {}
    features = set(section.get("features") or [])
    problems = []
    for name, baseline in (section.get("baselines") or {}).items():
        missing = [f for f in (baseline or {}).get("features") or [] if f not in features]
        if missing:
            problems.append(f"sigma_sfr.baselines.{name}.features: {missing} not in "
                            f"sigma_sfr.features (the sample holds only those)")
    return problems


def label_columns(found: Mapping[str, object] | None = None) -> tuple[str, ...]:
    """The method's one label column."""
    return (TARGET,)


def inputs(experiment: Mapping[str, object], shards: Sequence[str]) -> dict[str, list[str]]:
    """Training and prediction read the method's sample table."""
    return {"sample": [SAMPLE]}


def baseline_inputs(shards: Sequence[str]) -> dict[str, list[str]]:
    """The baselines read the same sample (same objects, features and splits)."""
    return {"sample": [SAMPLE]}


def baseline_table(files: Mapping[str, Sequence[str | os.PathLike]],
                   label_cols: Sequence[str]) -> pd.DataFrame:
    """The kept rows of the sample."""
    from galstar.io import read_parquet

    frame = pd.concat([read_parquet(p) for p in files["sample"]], ignore_index=True)
    return frame[frame["kept"].to_numpy(dtype=bool)].reset_index(drop=True)


def baseline_features(table: pd.DataFrame, names: Sequence[str],
                      source: str | None = None) -> pd.DataFrame:
    """The sample holds its features already computed: the baselines take them as the
    networks do (a name the sample lacks is an error naming it)."""
    from galstar.training.data import check_columns

    check_columns(table, names, source or SAMPLE)
    return table[list(names)].astype(float)


def load_split(files: Mapping[str, Sequence[str]], experiment: Mapping[str, object],
               split: str, label_cols: Sequence[str] | None = None):
    """The kept objects of ``split``: the features as a (n, L, 1) sequence (input
    ``features``), the target, and LDS sample weights on the training split when the
    experiment asks for them (``sample_weights: lds``)."""
    from galstar.features.sequence import to_sequence
    from galstar.training.data import ArraySource, Split, check_columns, finite_labels
    from galstar.training.weights import lds_weights

    table = baseline_table(files, (TARGET,))
    features = list(experiment["features"])
    check_columns(table, ("object_id", "split", *features, TARGET), str(files["sample"][0]))
    rows = table[table["split"] == split].reset_index(drop=True)
    labels = finite_labels(rows, label_cols or (TARGET,), str(files["sample"][0]))
    weight = None
    if split == "train" and experiment.get("sample_weights", "none") == "lds" and len(rows):
        weight = lds_weights(labels[:, 0], **dict(experiment.get("lds") or {}))
    return Split({"features": ArraySource(to_sequence(rows[features].to_numpy()))}, labels,
                 rows, tuple(label_cols or (TARGET,)), weight)


def model_builder(experiment: Mapping[str, object], train, seed: int):
    """``(build(train) -> keras.Model, run_info)``: the registry's 1D CNN, with the
    training features' mean and variance inside the model as its first layer."""
    from galstar.models import get_builder

    x = train.inputs["features"].array[:, :, 0].astype(np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)
    var = np.where(var > 0, var, 1.0)
    options = {k: experiment[k] for k in ("first_width", "widths", "kernel_size",
                                          "dense_units") if k in experiment}
    if experiment["model"] == "resnet1d" and "merge" in experiment:
        options["merge"] = experiment["merge"]

    def build(split):
        length, channels = split.input_shapes["features"]
        return get_builder(str(experiment["model"]))(
            length, channels, len(split.targets), dropout=float(experiment.get("dropout", 0)),
            l2=float(experiment.get("l2", 1e-4)), input_mean=mean.tolist(),
            input_variance=var.tolist(), **options)

    return build, {"feature_mean": mean.tolist(), "feature_std": np.sqrt(var).tolist()}


def write_sample(tables: Sequence[str | os.PathLike], features: Sequence[str],
                 cosmology: str, path: str | os.PathLike) -> pd.DataFrame:
    """Build the sample from the cross-match shard tables and write it atomically."""
    import logging

    from galstar.io import read_parquet, write_parquet

    frames = [build_sample(read_parquet(p), features, cosmology, source=str(p)) for p in tables]
    sample = pd.concat(frames, ignore_index=True)
    write_parquet(sample, path)
    counts = sample.loc[~sample["kept"], "reject_reason"].value_counts().to_dict()
    logging.getLogger(__name__).info("%d galaxies, %d kept, rejected: %s", len(sample),
                                     int(sample["kept"].sum()), counts or "none")
    return sample


def summarise(predictions: Mapping[str, str | os.PathLike], settings: Mapping[str, object], *,
              results_path: str | os.PathLike, bins_path: str | os.PathLike) -> pd.DataFrame:
    """The method's results table (every experiment and baseline) and the binned
    residuals of each, from their predictions files."""
    from galstar.evaluation.evaluate import write_csv
    from galstar.io import read_parquet

    frames = {name: read_parquet(p) for name, p in predictions.items()}
    low = float(settings.get("low_fraction", 0.2))
    table = results_table(frames, low_fraction=low)
    write_csv(table, results_path)
    bins = []
    for name, frame in frames.items():
        p, t = _columns(frame, TARGET, "test")
        bins.append(binned_residuals(p, t, int(settings.get("n_bins", 8)), low)
                    .assign(experiment=name))
    write_csv(pd.concat(bins, ignore_index=True), bins_path)
    return table


def final_targets(found: Mapping[str, object]) -> list[str]:
    """The method's own final outputs (``rule all``): its results tables and figures."""
    out = [paths.fill(paths.METHOD_TABLE, method=NAME, table=t)
           for t in ("results", "residual_bins")]
    out += [paths.fill(paths.METHOD_FIGURE, method=NAME, figure=f)
            for f in ("residuals", "pred_vs_true")]
    return out
