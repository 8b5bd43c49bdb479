# galstar: survey archives -> cross-matched samples -> preprocessed shards -> trained
# models of every method -> evaluation report. Rules wire files; workflow/scripts
# adapt; the galstar package computes.

from snakemake.logging import logger
from snakemake.utils import min_version, validate

from galstar.config_checks import check_config, remove_disabled

min_version("9.0")


# The demo; --configfile files and --config values are merged over it.
configfile: "config/config.yaml"


# `name: null` in a later config file drops that experiment or baseline of the demo.
for _removed in remove_disabled(config):
    logger.info(f"config: {_removed} is null: not built")
validate(config, "workflow/schemas/config.schema.yaml")
# Cross-field checks (crop vs cutout, ordered ranges and bins, weights, mock options,
# each method's merged experiments): a bad value stops the plan before any job.
check_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/mock.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/crossmatch.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/sdss.smk"
include: "workflow/rules/panstarrs.smk"  # PS1 cutouts, rest-frame spectra (spectra_from_images)
include: "workflow/rules/train.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/galeffnet.smk"
include: "workflow/rules/sigma_sfr.smk"
include: "workflow/rules/stellar.smk"
include: "workflow/rules/multimodal.smk"
include: "workflow/rules/spectra_from_images.smk"
include: "workflow/rules/predict_targets.smk"  # model packages, predictions for targets
include: "workflow/rules/report.smk"  # last: every method's tables are registered by then


rule all:
    input:
        all_targets,
        "results/calibration.csv",
        report_pages,
    default_target: True
