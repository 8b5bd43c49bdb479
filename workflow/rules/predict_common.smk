# Constants and input functions of the packaging and prediction rules
# (predict_targets.smk): the functions common.smk has for the training rules.

import math
from pathlib import Path

from galstar.inference import preprocessing as model_preprocessing
from galstar.inference.model_dir import PACKAGE_FILES, ModelDirectory
from galstar.inference.package import model_inputs
from galstar.inference.targets import read_positions, read_table

# Methods whose models can predict for targets (they have their own inputs).
PACKAGED_METHODS = [m for m in METHODS if m in ("galeffnet", "sigma_sfr", "stellar")]


def evaluated_as(wildcards):
    """The name an experiment is evaluated under: its cross-validation group, or itself."""
    return experiment(wildcards).get("cv_group") or wildcards.experiment


def package_inputs(wildcards):
    """The training outputs, the test metrics and calibration of ``{method}/{experiment}``."""
    name = evaluated_as(wildcards)
    files = {k: paths.fill(p, method=wildcards.method, experiment=wildcards.experiment)
             for k, p in (("model", paths.MODEL), ("scaler", paths.SCALER),
                          ("history", paths.HISTORY), ("config", paths.MODEL_CONFIG))}
    for key, pattern in (("metrics", paths.METRICS), ("calibration", paths.CALIBRATION)):
        files[key] = paths.fill(pattern, method=wildcards.method, name=name)
    return files


def inference_settings(method):
    """How the evaluation predicts (recorded in model.json, used for the targets)."""
    ev = method_evaluation(method)
    return {"mc_passes": ev["mc_passes"], "batch_size": ev["predict_batch_size"],
            "clip": ev.get("clip_to_label_range", True), "tta": ev.get("tta", "none"),
            "seed": cfg("seed")}


def package_targets():
    """Every packaged model's model.json (written last: the directory is complete)."""
    return [paths.fill(paths.MODEL_PACKAGE, method=m, experiment=e, file="model.json")
            for m in PACKAGED_METHODS for e in EXPERIMENTS[m]]


STAGE_TARGETS.append(package_targets)


# ------------------------------------------------------------------ a prediction run
PREDICT_TARGETS = config.get("targets")
PREDICT_MODEL = str(config.get("model") or "").rstrip("/")
if bool(PREDICT_TARGETS) != bool(PREDICT_MODEL):
    raise ValueError("a prediction run needs both --config targets=<list> and "
                     "model=<model directory>")


def predict_model_info(model_dir):
    """(method, experiment settings, recorded preprocessing or None) of ``model_dir``: a
    packaged directory (model.json), or one this workflow trains (results/<m>/models/<e>)."""
    if Path(model_dir, "model.json").is_file():
        packaged = ModelDirectory.open(model_dir, verify=False)
        return packaged.method, packaged.experiment, packaged.preprocessing
    parts = Path(model_dir).parts
    if (len(parts) == 4 and parts[0] == "results" and parts[2] == "models"
            and parts[3] in EXPERIMENTS.get(parts[1], {})):
        return parts[1], EXPERIMENTS[parts[1]][parts[3]], None
    raise ValueError(f"config model: {model_dir} is neither a packaged model directory "
                     "(no model.json) nor results/<method>/models/<experiment> of an "
                     "experiment in this config")


if PREDICT_TARGETS:
    if not Path(PREDICT_TARGETS).is_file():
        raise ValueError(f"config targets: no such file {PREDICT_TARGETS}")
    P_METHOD, P_EXPERIMENT, P_RECORDED = predict_model_info(PREDICT_MODEL)
    # What this config's preprocessing is; it must be the model's (the error names keys).
    P_PREPROCESSING = model_preprocessing.preprocessing_record(config, P_METHOD, P_EXPERIMENT)
    if P_RECORDED is not None:
        model_preprocessing.check_preprocessing(P_RECORDED, P_PREPROCESSING, PREDICT_MODEL)
    P_INPUTS = model_inputs(P_METHOD, P_EXPERIMENT)
    P_RUN = config.get("predict_run") or (
        f"{Path(PREDICT_TARGETS).name.split('.')[0]}__{P_METHOD}-{P_EXPERIMENT['name']}"
    )
    P_DIR = paths.fill(paths.PREDICT_RUN, run=P_RUN)
    P_RAW = f"{RAW}/targets/{P_RUN}"
    P_OUT = config.get("out") or f"{P_DIR}/predictions.parquet"
    if not P_OUT.endswith(".parquet"):
        raise ValueError(f"config out: {P_OUT} must end with .parquet (the FITS table is "
                         "written beside it)")
    P_FITS = P_OUT.removesuffix(".parquet") + ".fits"
    # galaxies: cutouts and images; features: the DR9 catalogue row and z; stars: spectra
    P_KIND = {"galeffnet": "galaxies", "sigma_sfr": "features"}.get(P_METHOD, "stars")
    if P_KIND != "stars":
        # Shards like the training sample's: at most predict.shard_rows usable rows each.
        positions = read_positions(PREDICT_TARGETS, P_INPUTS["with_redshift"])  # errors name it
        n_usable = int((positions["reject_reason"] == "").sum())
        P_SHARDS = [f"shard-{i:03d}" for i in
                    range(max(1, math.ceil(n_usable / cfg("predict", "shard_rows"))))]
    else:
        P_SHARDS = []
        read_table(PREDICT_TARGETS)  # an unreadable list stops the plan, naming it


def predict_model_files(wildcards):
    """The model directory's files (built here when it is this workflow's own model)."""
    return {"model_files": [f"{PREDICT_MODEL}/{f}" for f in ("model.keras", "scaler.json",
                                                             *PACKAGE_FILES)]}


def predict_prepared(wildcards):
    """The prepared targets the prediction reads: the preprocessed shards and the model's
    image variant (galaxies), or each arm's observed table and array (stars)."""
    if P_KIND == "features":
        return {"table": f"{P_DIR}/targets.parquet",
                "catalogs": expand(f"{P_DIR}/catalog/{{shard}}.parquet", shard=P_SHARDS)}
    if P_KIND == "galaxies":
        return {"table": f"{P_DIR}/targets.parquet",
                "tables": expand(f"{P_DIR}/preprocess/{{shard}}.parquet", shard=P_SHARDS),
                "images": expand(f"{P_DIR}/preprocess/{P_INPUTS['variant']}/{{shard}}.npy",
                                 shard=P_SHARDS)}
    files = {"table": f"{P_DIR}/targets.parquet"}
    for arm in P_INPUTS["arms"]:
        files[f"{arm}_table"] = f"{P_DIR}/observed/{arm}.parquet"
        files[f"{arm}_array"] = f"{P_DIR}/observed/{arm}.npy"
    return files


def predict_outputs(wildcards):
    """The run's output tables (a clear error when no run is configured)."""
    if not PREDICT_TARGETS:
        raise ValueError("predict_targets needs --config targets=<list> model=<model dir> "
                         "(README, 'Predicting for your own targets')")
    return [P_OUT, P_FITS]




def target_neighbours(wildcards):
    """The shard's DR9 neighbours when the catalogue blend pass is on (images.smk)."""
    return [f"{P_DIR}/neighbours/{wildcards.shard}.parquet"] if CATALOG_PASS else []
