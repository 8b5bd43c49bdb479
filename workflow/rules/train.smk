# Stage 4a: GalEffNet training (docs/contracts.md, Stage 4). One job per experiment; the
# experiment's whole resolved config is a param, so editing one experiment (say its
# learning_rate) retrains that experiment (and the ablations generated from it, which
# inherit the setting) only, and never touches preprocessing or the baselines.

from galstar.training.experiments import task_targets
from galstar.training.workflow import experiment_images, experiment_setting, name_regex

EXPERIMENT_REGEX = name_regex(EXPERIMENTS)
EXPERIMENT_IMAGES = experiment_images(EXPERIMENTS, SHARDS)


rule train:
    input:
        tables=shard_paths("results/preprocess/{shard}.parquet"),
        images=EXPERIMENT_IMAGES,
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
    threads: experiment_setting(EXPERIMENTS, "threads")
    resources:
        gpu=experiment_setting(EXPERIMENTS, "gpu"),
        mem_mb=experiment_setting(EXPERIMENTS, "mem_mb"),
        runtime=experiment_setting(EXPERIMENTS, "runtime"),
    # A node lost mid-epoch or an out-of-memory kill: the profile grows mem/runtime per attempt.
    retries: 2
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "benchmarks/train/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"
