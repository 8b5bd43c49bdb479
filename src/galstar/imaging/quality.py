"""Score the preprocessing against the simulator's truth.

For every cutout the simulator knows the noiseless flux of the target and of
everything else (contaminants), and whether a neighbour overlaps the target. The
mask of :func:`preprocess_cutout` is scored on those maps:

- target flux retained = target flux inside the mask / total target flux;
- contaminant flux removed = contaminant flux outside the mask / total contaminant
  flux (cutouts with no contaminant flux are skipped);
- centre failure = no centre source (or bad pixels) for an isolated target;
- blend precision and recall of ``blended`` against the true blend flag, over the
  cutouts whose blend check ran (a centre source was found).

Flux medians are taken over isolated galaxies whose centre source was found.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galstar.imaging.pipeline import PreprocessConfig, PreprocessResult, preprocess_cutout

__all__ = ["QUALITY_TARGETS", "TruthCutout", "score_result", "score_cutouts",
           "summarise_quality"]

#: metric -> (comparison, target) for the demo mock (issue 3).
QUALITY_TARGETS: dict[str, tuple[str, float]] = {
    "contaminant_flux_removed_median": (">=", 0.95),
    "target_flux_retained_median": (">=", 0.95),
    "centre_failure_rate": ("<=", 0.05),
    "blend_recall": (">=", 0.85),
    "blend_precision": (">=", 0.85),
}


@dataclass(frozen=True)
class TruthCutout:
    """One cutout and its truth.

    Attributes
    ----------
    object_id : int
        Identifier (for the per-object table).
    cube : numpy.ndarray
        (3, N, N) observed grz cutout, nanomaggies.
    target : numpy.ndarray
        (N, N) noiseless target flux summed over bands, nanomaggies.
    contaminant : numpy.ndarray
        (N, N) noiseless flux of every other source, nanomaggies.
    is_blend : bool
        True when a neighbour overlaps the target.
    """

    object_id: int
    cube: np.ndarray
    target: np.ndarray
    contaminant: np.ndarray
    is_blend: bool


def score_result(result: PreprocessResult, target: np.ndarray, contaminant: np.ndarray
                 ) -> dict[str, float]:
    """Flux fractions of one preprocessing result against its truth maps.

    Returns
    -------
    dict
        ``target_flux_retained`` and ``contaminant_flux_removed`` (NaN when there is
        no mask, or no flux of that kind).
    """
    out = {"target_flux_retained": math.nan, "contaminant_flux_removed": math.nan}
    if result.ellipse is None or result.mask.shape != target.shape:
        return out
    t_total = float(target.sum(dtype=np.float64))
    c_total = float(contaminant.sum(dtype=np.float64))
    if t_total > 0:
        out["target_flux_retained"] = float(target[result.mask].sum(dtype=np.float64)) / t_total
    if c_total > 1e-6 * max(t_total, 1e-30):
        inside = float(contaminant[result.mask].sum(dtype=np.float64))
        out["contaminant_flux_removed"] = 1.0 - inside / c_total
    return out


def score_cutouts(cutouts: Iterable[TruthCutout], config: PreprocessConfig) -> pd.DataFrame:
    """Preprocess and score every cutout.

    Returns
    -------
    pandas.DataFrame
        One row per cutout: object_id, is_blend, reject_reason, blended,
        centre_found, radius_px, target_flux_retained, contaminant_flux_removed.
    """
    rows = []
    for item in cutouts:
        result = preprocess_cutout(item.cube, config)
        rows.append({
            "object_id": int(item.object_id),
            "is_blend": bool(item.is_blend),
            "reject_reason": result.reject_reason,
            "blended": bool(result.blended),
            "centre_found": result.ellipse is not None,
            "radius_px": result.radius_px,
            **score_result(result, item.target, item.contaminant),
        })
    return pd.DataFrame(rows)


def summarise_quality(
    scores: pd.DataFrame, targets: Mapping[str, tuple[str, float]] = QUALITY_TARGETS
) -> pd.DataFrame:
    """Aggregate per-cutout scores into the quality table.

    Parameters
    ----------
    scores : pandas.DataFrame
        Output of :func:`score_cutouts`.
    targets : mapping
        metric -> (comparison, value) to mark as passed or not.

    Returns
    -------
    pandas.DataFrame
        Columns metric, value, n (cutouts it is computed on), comparison, target,
        passed (None where the metric has no target).
    """
    isolated = scores[~scores["is_blend"]]
    found_iso = isolated[isolated["centre_found"]]
    checked = scores[scores["centre_found"]]
    tp = int((checked["blended"] & checked["is_blend"]).sum())
    fp = int((checked["blended"] & ~checked["is_blend"]).sum())
    fn = int((~checked["blended"] & checked["is_blend"]).sum())
    kept = scores["reject_reason"].isna()
    contaminated = found_iso["contaminant_flux_removed"].dropna()
    metrics = [
        ("n_cutouts", float(len(scores)), len(scores)),
        ("n_isolated", float(len(isolated)), len(isolated)),
        ("n_true_blends", float(scores["is_blend"].sum()), len(scores)),
        ("kept_fraction", float(kept.mean()) if len(scores) else math.nan, len(scores)),
        ("contaminant_flux_removed_median",
         float(contaminated.median()) if len(contaminated) else math.nan, len(contaminated)),
        ("contaminant_flux_removed_p10",
         float(contaminated.quantile(0.1)) if len(contaminated) else math.nan,
         len(contaminated)),
        ("target_flux_retained_median",
         float(found_iso["target_flux_retained"].median()) if len(found_iso) else math.nan,
         len(found_iso)),
        ("target_flux_retained_p10",
         float(found_iso["target_flux_retained"].quantile(0.1)) if len(found_iso) else math.nan,
         len(found_iso)),
        ("centre_failure_rate",
         float((~isolated["centre_found"]).mean()) if len(isolated) else math.nan,
         len(isolated)),
        ("blend_precision", tp / (tp + fp) if tp + fp else math.nan, tp + fp),
        ("blend_recall", tp / (tp + fn) if tp + fn else math.nan, tp + fn),
        ("isolated_kept_fraction",
         float(isolated["reject_reason"].isna().mean()) if len(isolated) else math.nan,
         len(isolated)),
    ]
    rows = []
    for name, value, n in metrics:
        comparison, target = targets.get(name, (None, math.nan))
        passed = None
        if comparison is not None:
            passed = bool(value >= target) if comparison == ">=" else bool(value <= target)
        rows.append({"metric": name, "value": value, "n": int(n), "comparison": comparison,
                     "target": target, "passed": passed})
    return pd.DataFrame(rows)
