# Stage 4a: GalEffNet training (docs/contracts.md, Stage 4). One job per experiment; the
# experiment's whole resolved config is a param, so editing one experiment (say its
# learning_rate) retrains that experiment only, and never touches preprocessing.

import re

from galstar.training.experiments import expand_experiments, task_targets

if "EXPERIMENTS" not in globals():  # common.smk normally builds it the same way
    EXPERIMENTS = expand_experiments(config)

# A name list as a wildcard regex (a never-matching one when there are no experiments).
EXPERIMENT_REGEX = "|".join(re.escape(name) for name in EXPERIMENTS) or "(?!)"


def experiment_setting(key):
    """Input/params/resources function: ``EXPERIMENTS[<experiment>][key]``."""

    def get(wildcards, **_):
        return EXPERIMENTS[wildcards.experiment][key]

    return get


def experiment_images(wildcards):
    """The experiment's ``<bands>-<resolution>`` tensors, one per shard."""
    exp = EXPERIMENTS[wildcards.experiment]
    return expand(
        "results/preprocess/{variant}/{shard}.npy",
        variant=f"{exp['bands']}-{exp['resolution']}",
        shard=SHARDS,
    )


rule train:
    input:
        tables=shard_paths("results/preprocess/{shard}.parquet"),
        images=experiment_images,
    output:
        model="results/models/{experiment}/model.keras",
        scaler="results/models/{experiment}/scaler.json",
        history="results/models/{experiment}/history.csv",
        config="results/models/{experiment}/config.yaml",
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        experiment=lambda wildcards: EXPERIMENTS[wildcards.experiment],
        seed=cfg("seed"),
    threads: experiment_setting("threads")
    resources:
        gpu=experiment_setting("gpu"),
        mem_mb=experiment_setting("mem_mb"),
        runtime=experiment_setting("runtime"),
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "benchmarks/train/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"
