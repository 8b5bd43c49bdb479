# Settings and input functions of the multimodal rules (multimodal.smk), kept apart
# from the rules as common.smk is.

from galstar.methods import multimodal

MULTIMODAL = EXPERIMENTS.get("multimodal", {})
MM_CFG = cfg("multimodal") if MULTIMODAL else {}
MM_TABULAR = (MM_CFG.get("tabular") or {}).get("models") or {}
MM_LATE = MM_CFG.get("late_fusion") or {}
MM_ACTIVE = MM_CFG.get("active_learning") or {}
MM_ACTIVE_EXPERIMENT = MULTIMODAL.get(MM_ACTIVE.get("experiment"), {})  # its resources
MM_MAPS = MM_CFG.get("latent_maps") or {}
MM_EVALUATION = method_evaluation("multimodal") if MULTIMODAL else {}
MM = paths.fill(paths.METHOD, method="multimodal")
MM_FEATURES = f"{MM}/features/{{modality}}.parquet"
MM_FIT = paths.fill(f"{paths.MODEL_DIR}/fit.json", method="multimodal")
MM_CV = f"{MM}/metrics/{{tabular}}/cv.csv"
MM_RESULTS = multimodal.result_names(config, MULTIMODAL) if MULTIMODAL else []
# Predicted-vs-true panels: every model but the training-mean baselines.
MM_FIGURE_MODELS = [n for n in MM_RESULTS if not n.startswith("baseline-")]


def mm_regex(names):
    return "|".join(sorted(map(re.escape, names))) or "(?!)"


def mm_prediction(name):
    return paths.fill(paths.PREDICTIONS, method="multimodal", name=name)


def mm_model_kind(name):
    """(kind, modality) of a results-table row."""
    if name in MM_TABULAR:
        return MM_TABULAR[name]["kind"], MM_TABULAR[name]["features"]
    if name in MM_LATE:
        return "late_fusion", "fused"
    if name in MULTIMODAL:
        model = MULTIMODAL[name]["model"]
        if model == "early_fusion":
            return "early_fusion", "fused"
        return "network", MULTIMODAL[name]["inputs"][0]
    return "mean", "none"


def mm_results_spec():
    """Model name -> kind, modality, its predictions and the files its wall times come
    from (history and the predict job's benchmark for networks, fit.json otherwise)."""
    spec = {}
    for n in MM_RESULTS:
        kind, modality = mm_model_kind(n)
        spec[n] = {"kind": kind, "modality": modality, "predictions": mm_prediction(n)}
        if n in MULTIMODAL:
            spec[n]["history"] = paths.fill(paths.HISTORY, method="multimodal", experiment=n)
            spec[n]["benchmark"] = f"benchmarks/multimodal/predict/{n}.tsv"
        elif n in MM_TABULAR or n in MM_LATE:
            spec[n]["fit"] = paths.fill(MM_FIT, experiment=n)
    return spec


def mm_results_inputs(wildcards):
    """Every file of mm_results_spec() but the benchmarks (written by the jobs' runs)."""
    return [f for spec in mm_results_spec().values() for k, f in spec.items()
            if k in ("predictions", "history", "fit")]


def mm_tabular_inputs(wildcards):
    modality = MM_TABULAR[wildcards.tabular]["features"]
    return {"features": MM_FEATURES.format(modality=modality)}


def mm_feature_inputs(wildcards):
    tensor = {"image": paths.SDSS_IMAGE_TENSOR, "spectrum": paths.SDSS_SPECTRA_TENSOR}
    sample = getattr(paths, multimodal.sample_table([wildcards.modality]))
    out = {"tables": shard_paths(sample), "tensors": shard_paths(tensor[wildcards.modality])}
    if wildcards.modality == "spectrum":
        out["grid"] = paths.SDSS_SPECTRA_GRID
    return out


def mm_experiment_inputs(name):
    return multimodal.inputs(MULTIMODAL[name], SHARDS)


def mm_latent_inputs():
    """The latent-map experiment's data, its trained model and the catalogue shards."""
    if not MM_MAPS:
        return {}
    name = MM_MAPS["experiment"]
    return {**mm_experiment_inputs(name), "catalogs": shard_paths(paths.CATALOG_SHARD),
            "model": paths.fill(paths.MODEL, method="multimodal", experiment=name)}


def multimodal_targets():
    """Final targets: feature tables, the feature and late-fusion models' predictions,
    metrics and fits, the active-learning and latent-map outputs."""
    if not MULTIMODAL:
        return []
    out = []
    modalities = sorted({spec["features"] for spec in MM_TABULAR.values()})
    out += [MM_FEATURES.format(modality=m) for m in modalities]
    for n in [*MM_TABULAR, *MM_LATE]:
        out += [paths.fill(p, method="multimodal", name=n)
                for p in (paths.PREDICTIONS, paths.METRICS, paths.CALIBRATION)]
        out.append(paths.fill(MM_FIT, experiment=n))
    out += [MM_CV.format(tabular=n) for n in MM_TABULAR]
    if MM_ACTIVE:
        out += [f"{MM}/metrics/active_learning.csv", f"{MM}/metrics/active_learning_summary.csv",
                f"{MM}/active_learning/acquired.parquet",
                paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="active_learning")]
    if MM_MAPS:
        out += [f"{MM}/latent/embedding.parquet",
                paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="latent_maps")]
    return out


STAGE_TARGETS.append(multimodal_targets)
