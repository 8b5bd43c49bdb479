"""Score the image preprocessing (``galstar.imaging``) against the simulator's truth.

For every cutout the simulator knows the noiseless flux of the target and of
everything else (contaminants), and whether a neighbour overlaps the target. The
mask of :func:`preprocess_cutout` is scored on those maps:

- target flux retained = target flux inside the mask / total target flux;
- contaminant flux removed = contaminant flux outside the mask / total contaminant
  flux (cutouts with no contaminant flux are skipped);
- centre failure = no centre source (or bad pixels) for an isolated target;
- blend precision and recall of ``blended`` against the true blend flag.

**What counts as a true blend.** A neighbour matters when it biases the target's
integrated photometry, so the truth is photometric, not geometric: the *contamination*
of a target is the noiseless flux of every other source falling inside the target's own
isophote at ``TRUTH_ISOPHOTE_NMGY_ARCSEC2`` (1 nmgy/arcsec^2, grz summed: the mock's
blend isophote, ~2.3 sigma of the per-pixel sky noise), divided by the target's flux
inside that isophote. A target is blended when the contamination is at least
``BLEND_CONTAMINATION_MIN`` = 0.1, i.e. its isophotal magnitude is biased by >= 0.1 mag
(2.5 log10 1.1 = 0.10). Both maps are the simulator's noiseless renderings at the
cutout's seeing, so the definition owes nothing to the detector. The simulator's own
``is_blend`` flag (two 1 nmgy/arcsec^2 isophotes overlap, however faint the neighbour
or however little of it falls on the target) is kept as ``overlap_flag`` and reported:
about a third of the overlapping neighbours put less than 10 % of the target's light
inside its isophote (a large faint galaxy whose outskirts touch the isophote, a small
one at its edge), and no detector working at the noise level can or should reject those.

**Which targets are scored.** Precision and recall are computed over the targets on
which the blend question is asked: those with a centre source (the blend passes run
before the size cut, so ``too_large`` targets are included). Blends rejected as
``no_center_source`` (a neighbour pulls the merged isophote's ellipse off the centre;
with the asymmetry pass on, the region containing the centre is taken instead, so few
remain) are not in that denominator; ``blend_recall_all`` counts them as missed, and
``blend_rejected_fraction`` is the share of true blends kept out of the training set
for any reason.

Flux medians and the centre-failure rate are over isolated galaxies (contamination
below the threshold); flux medians only where a centre source was found.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galstar.imaging.pipeline import PreprocessConfig, PreprocessResult, preprocess_cutout

__all__ = ["BLEND_CONTAMINATION_MIN", "QUALITY_TARGETS", "TRUTH_ISOPHOTE_NMGY_ARCSEC2",
           "TruthCutout", "isophotal_contamination", "score_result", "score_cutouts",
           "summarise_quality"]

#: Surface brightness (grz summed, nmgy/arcsec^2) of the target isophote that defines
#: the target's footprint for the blend truth (the mock's ``blend_isophote_nmgy_arcsec2``).
TRUTH_ISOPHOTE_NMGY_ARCSEC2: float = 1.0
#: Contaminant over target flux inside the target's isophote from which a target is a
#: true blend: 0.1 = a 0.10 mag bias of its isophotal magnitude.
BLEND_CONTAMINATION_MIN: float = 0.1

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
        The simulator's geometric flag: a neighbour's isophote overlaps the target's
        (scored as ``overlap_flag``; the blend truth is :func:`isophotal_contamination`).
    neighbours : pandas.DataFrame or None
        The target's DR9 catalogue neighbours, as the pipeline gives them to
        :func:`preprocess_cutout` (None: no catalogue, the catalogue pass is skipped).
    """

    object_id: int
    cube: np.ndarray
    target: np.ndarray
    contaminant: np.ndarray
    is_blend: bool
    neighbours: pd.DataFrame | None = None


def isophotal_contamination(
    target: np.ndarray,
    contaminant: np.ndarray,
    pixscale: float,
    isophote_nmgy_arcsec2: float = TRUTH_ISOPHOTE_NMGY_ARCSEC2,
) -> float:
    """Neighbours' flux inside the target's isophote over the target's flux there.

    Parameters
    ----------
    target, contaminant : numpy.ndarray
        (N, N) noiseless flux of the target and of every other source, nanomaggies
        per pixel (grz summed).
    pixscale : float
        Pixel scale, arcsec / px.
    isophote_nmgy_arcsec2 : float
        Surface brightness of the target isophote bounding the footprint.

    Returns
    -------
    float
        The fractional bias of the target's isophotal flux (NaN when the target never
        reaches the isophote).
    """
    inside = target > isophote_nmgy_arcsec2 * pixscale**2
    t = float(target[inside].sum(dtype=np.float64))
    if t <= 0:
        return math.nan
    return float(contaminant[inside].sum(dtype=np.float64)) / t


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
        One row per cutout: object_id, contamination (:func:`isophotal_contamination`),
        is_blend (contamination >= ``BLEND_CONTAMINATION_MIN``), overlap_flag (the
        simulator's ``is_blend``), reject_reason, blended, centre_found, radius_px,
        catalog_contamination, target_flux_retained, contaminant_flux_removed.
    """
    rows = []
    for item in cutouts:
        result = preprocess_cutout(item.cube, config, neighbours=item.neighbours)
        contamination = isophotal_contamination(item.target, item.contaminant,
                                                config.pixscale)
        rows.append({
            "object_id": int(item.object_id),
            "contamination": contamination,
            "is_blend": bool(contamination >= BLEND_CONTAMINATION_MIN),
            "overlap_flag": bool(item.is_blend),
            "reject_reason": result.reject_reason,
            "blended": bool(result.blended),
            "centre_found": result.ellipse is not None,
            "radius_px": result.radius_px,
            "catalog_contamination": result.catalog_contamination,
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
    blends = scores[scores["is_blend"]]
    n_blends = len(blends)
    kept = scores["reject_reason"].isna()
    overlap = checked[checked["overlap_flag"]]
    contaminated = found_iso["contaminant_flux_removed"].dropna()
    metrics = [
        ("n_cutouts", float(len(scores)), len(scores)),
        ("n_isolated", float(len(isolated)), len(isolated)),
        ("n_true_blends", float(scores["is_blend"].sum()), len(scores)),
        ("n_overlap_flag", float(scores["overlap_flag"].sum()), len(scores)),
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
        ("blend_recall_all", tp / n_blends if n_blends else math.nan, n_blends),
        ("blend_rejected_fraction",
         float(blends["reject_reason"].notna().mean()) if n_blends else math.nan, n_blends),
        ("blend_recall_overlap_flag",
         float(overlap["blended"].mean()) if len(overlap) else math.nan, len(overlap)),
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
