"""The one owner of the results/ and resources/ path templates.

Templates keep Snakemake wildcards (``{shard}``, ``{method}``, ``{experiment}``,
``{name}``); :func:`fill` substitutes some of them and leaves the rest, so that rule
files and scripts build every path from here instead of repeating literals.
"""

from __future__ import annotations

import re

__all__ = ["fill", "GALAXIES", "CATALOG", "CROSSMATCH", "CUTFLOW", "CATALOG_REJECTS",
           "SEPARATION_FIG", "CATALOG_SHARD", "NEIGHBOURS", "PREPROCESS", "PREPROCESS_TABLE",
           "PREPROCESS_TENSOR", "REJECT_COUNTS", "STEPS_FIG", "QUALITY", "QUALITY_SCORES",
           "METHOD", "MODEL_DIR", "MODEL", "SCALER", "HISTORY", "MODEL_CONFIG",
           "LEARNING_CURVE", "TUNING", "TRIAL_DIR", "TUNED", "TUNING_TABLE", "PREDICTIONS",
           "METRICS", "CALIBRATION", "METHOD_TABLE",
           "FIGURE", "METHOD_FIGURE", "MOCK_OVERVIEW", "RUN_SUMMARY", "SDSS", "SDSS_TARGETS",
           "SDSS_TABLE", "SDSS_SPECTRA_TABLE", "SDSS_SPECTRA_TENSOR", "SDSS_SPECTRA_GRID",
           "SDSS_IMAGE_TABLE", "SDSS_IMAGE_TENSOR", "SDSS_IMAGE_SAMPLE", "SDSS_REJECT_COUNTS",
           "SDSS_RAW", "SFI", "SFI_TABLE", "SFI_IMAGES", "SFI_SPECTRA", "SFI_TRUTH",
           "SFI_REJECTS", "SFI_GRID", "SFI_REJECT_COUNTS", "SFI_IMAGE_TABLE", "SFI_IMAGE_STACK",
           "SFI_RESTFRAME_TABLE", "SFI_RESTFRAME", "SFI_PCA", "PANSTARRS_RAW",
           "MODEL_PACKAGE",
           "PREDICT_RUN", "html_of", "raw"]

_FIELD = re.compile(r"{(\w+)}")


def fill(template: str, **values: object) -> str:
    """Substitute the named wildcards of ``template``; others stay as ``{wildcard}``."""
    return _FIELD.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def html_of(table: str) -> str:
    """The HTML page written beside a CSV table (``x/table2.csv`` -> ``x/table2.html``)."""
    if not table.endswith(".csv"):
        raise ValueError(f"not a CSV table path: {table!r}")
    return table.removesuffix(".csv") + ".html"


def raw(archive: str) -> str:
    """Downloaded (or mock-served) raw data of ``archive`` (inputs; never edited)."""
    return f"resources/{archive}"


# The shared galaxy sample: one cross-match, one set of shards and splits for every
# galaxy method, so that methods are compared on the same objects.
GALAXIES = "results/galaxies"
CATALOG = f"{GALAXIES}/catalog"
CROSSMATCH = f"{CATALOG}/crossmatch.parquet"
CUTFLOW = f"{CATALOG}/cutflow.csv"
CATALOG_REJECTS = f"{CATALOG}/rejects.parquet"
SEPARATION_FIG = f"{CATALOG}/separation.png"
CATALOG_SHARD = f"{CATALOG}/shards/{{shard}}.parquet"
NEIGHBOURS = f"{CATALOG}/neighbours/{{shard}}.parquet"
PREPROCESS = f"{GALAXIES}/preprocess"
PREPROCESS_TABLE = f"{PREPROCESS}/{{shard}}.parquet"
PREPROCESS_TENSOR = f"{PREPROCESS}/{{variant}}/{{shard}}.npy"
REJECT_COUNTS = f"{PREPROCESS}/reject_counts.csv"
STEPS_FIG = f"{PREPROCESS}/steps.png"
QUALITY = f"{PREPROCESS}/quality.csv"
QUALITY_SCORES = f"{PREPROCESS}/quality_scores.parquet"
# SDSS spectra and ugriz images of the same galaxies (multimodal; sdss.smk), per shard.
SDSS = f"{GALAXIES}/sdss"
SDSS_TABLE = f"{SDSS}/{{shard}}.parquet"  # every catalogue object: targets, rows, rejects
SDSS_TARGETS = f"{SDSS}/targets/{{shard}}.parquet"  # catalogue z + DR7 SFR statistics
SDSS_SPECTRA_TABLE = f"{SDSS}/spectra/{{shard}}.parquet"
SDSS_SPECTRA_TENSOR = f"{SDSS}/spectra/{{shard}}.npy"
SDSS_SPECTRA_GRID = f"{SDSS}/spectra/grid.json"
SDSS_IMAGE_TABLE = f"{SDSS}/images/{{shard}}.parquet"
# SDSS_TABLE without the spectra (image kept, targets finite): what image-only models read
SDSS_IMAGE_SAMPLE = f"{SDSS}/image_sample/{{shard}}.parquet"
SDSS_IMAGE_TENSOR = f"{SDSS}/images/{{shard}}.npy"
SDSS_REJECT_COUNTS = f"{SDSS}/reject_counts.csv"
# Raw SDSS downloads under resources/{archive}/ (fill archive=): per-shard manifests of
# spectra and cutouts (files in cache/ beside them) and the DR7 SFR table.
SDSS_RAW = {"spectra": "resources/{archive}/sdss/spectra/{shard}.parquet",
            "images": "resources/{archive}/sdss/images/{shard}.parquet",
            "dr7": "resources/{archive}/mpajhu_dr7/sfr.parquet"}
# Spectra from images (Wu & Peek 2020; panstarrs.smk): PS1 grizy cutouts and rest-frame
# SDSS spectra of the SDSS sample galaxies, per shard, rows aligned with SFI_TABLE.
SFI = f"{GALAXIES}/spectra_from_images"
SFI_TABLE = f"{SFI}/{{shard}}.parquet"  # kept objects in tensor row order (sfi_sample)
SFI_IMAGES = f"{SFI}/images/{{shard}}.npy"  # float32 (N, 5, S, S), g, r, i, z, y
SFI_SPECTRA = f"{SFI}/spectra/{{shard}}.npy"  # float32 (N, 2, 1000): flux, weight
SFI_TRUTH = f"{SFI}/truth/{{shard}}.npy"  # float32 (N, 1000); all NaN on a live archive
SFI_REJECTS = f"{SFI}/rejects/{{shard}}.parquet"  # object_id, reason
SFI_GRID = f"{SFI}/restframe_grid.json"  # loglam start/stop/n, normalisation, PCA
SFI_REJECT_COUNTS = f"{SFI}/reject_counts.csv"
# intermediate products of panstarrs.smk (per shard unless noted)
SFI_IMAGE_TABLE = f"{SFI}/ps1/{{shard}}.parquet"  # every object: image row, reject_reason
SFI_IMAGE_STACK = f"{SFI}/ps1/{{shard}}.npy"  # preprocessed cutouts of the kept objects
SFI_RESTFRAME_TABLE = f"{SFI}/restframe/{{shard}}.parquet"  # every object: row, reject
SFI_RESTFRAME = f"{SFI}/restframe/{{shard}}.npy"  # (n, 3, 1000) flux, ivar, truth
SFI_PCA = f"{SFI}/restframe/pca.npz"  # gap-filling components (training split only)
# raw PS1 downloads (fill archive=): per-shard manifest, cached FITS beside it
PANSTARRS_RAW = "resources/{archive}/panstarrs/{shard}.parquet"
MOCK_OVERVIEW = "results/mock/overview.png"
# The report's page of the run: code version, archive, methods and their models.
RUN_SUMMARY = "results/run_summary.html"

# Per method: models, predictions, metrics, figures.
METHOD = "results/{method}"
MODEL_DIR = f"{METHOD}/models/{{experiment}}"
MODEL = f"{MODEL_DIR}/model.keras"
SCALER = f"{MODEL_DIR}/scaler.json"
HISTORY = f"{MODEL_DIR}/history.csv"
MODEL_CONFIG = f"{MODEL_DIR}/config.yaml"
LEARNING_CURVE = f"{MODEL_DIR}/learning_curve.png"
# Hyperparameter CV of an experiment with `tune` (tune.smk): each trial's training
# outputs (the weights are temporary), the chosen values and the per-point table.
TUNING = f"{METHOD}/tuning/{{experiment}}"
TRIAL_DIR = f"{TUNING}/{{trial}}"
TUNED = f"{TUNING}/tuned.json"
TUNING_TABLE = f"{TUNING}/cv.csv"
# The portable model directory's files beyond the training outputs (rule package_model;
# galstar.inference.model_dir): {file} is one of its PACKAGE_FILES.
MODEL_PACKAGE = f"{MODEL_DIR}/{{file}}"
# A prediction run for a user's targets (predict_targets.smk); {run} names the run.
PREDICT_RUN = "results/predict/{run}"
# {name}: an experiment, or baseline-<kind>
PREDICTIONS = f"{METHOD}/predictions/{{name}}.parquet"
METRICS = f"{METHOD}/metrics/{{name}}.csv"
CALIBRATION = f"{METHOD}/metrics/{{name}}/calibration.csv"
METHOD_TABLE = f"{METHOD}/metrics/{{table}}.csv"
FIGURE = f"{METHOD}/figures/{{name}}/{{figure}}.png"
METHOD_FIGURE = f"{METHOD}/figures/{{figure}}.png"
