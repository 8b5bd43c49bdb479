# galstar: survey archives -> cross-matched samples -> preprocessed shards -> trained
# models of every method -> evaluation report. Rules wire files; workflow/scripts
# adapt; the galstar package computes.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/mock.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/crossmatch.smk"
include: "workflow/rules/images.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/galeffnet.smk"
include: "workflow/rules/sigma_sfr.smk"


rule all:
    input:
        all_targets,
        "results/calibration.csv",
    default_target: True
