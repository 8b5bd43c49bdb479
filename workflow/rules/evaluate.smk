# Stage 4b: predictions, metrics, uncertainty, baselines and Table 1 (compute only;
# figures are in report.smk). Paths: docs/contracts.md, Stage 4.

from galstar.training.workflow import EXPERIMENT_FIGURES, evaluation_targets_function

EVALUATION = cfg("evaluation")
REFERENCE = EVALUATION["reference"]
BASELINES = list(EVALUATION["baselines"])
ABLATIONS = config.get("ablations") or {}

if REFERENCE not in EXPERIMENTS:
    raise ValueError(
        f"config evaluation.reference: '{REFERENCE}' is not an experiment "
        f"(have {sorted(EXPERIMENTS)})"
    )
REFERENCE_TARGETS = list(task_targets(EXPERIMENTS[REFERENCE]["task"]))
# Each rule gets only the evaluation keys it uses (params rerun trigger).
METRIC_SETTINGS = {
    key: EVALUATION[key]
    for key in ("outlier_dex", "sigma_bin_dex", "size_bins_arcsec", "redshift_bins")
}
BASELINE_SETTINGS = {"random_forest": EVALUATION.get("random_forest") or {}}
# Table 1 rows: experiments in config order, then the baselines.
TABLE1_ROWS = list(EXPERIMENTS) + [f"baseline-{b}" for b in BASELINES]


# rule all requests these (tables, per-experiment figures, ablation figures).
evaluation_targets = evaluation_targets_function(EXPERIMENTS, EXPERIMENT_FIGURES)
STAGE_TARGETS.append(evaluation_targets)


rule predict:
    input:
        model="results/models/{experiment}/model.keras",
        scaler="results/models/{experiment}/scaler.json",
        tables=shard_paths("results/preprocess/{shard}.parquet"),
        images=EXPERIMENT_IMAGES,
    output:
        "results/predictions/{experiment}.parquet",
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        mc_passes=cfg("evaluation", "mc_passes"),
        batch_size=cfg("evaluation", "predict_batch_size"),
        seed=cfg("seed"),
        clip=cfg("evaluation", "clip_to_label_range"),
        tta=cfg("evaluation", "tta"),
    threads: experiment_setting(EXPERIMENTS, "threads")
    resources:
        gpu=experiment_setting(EXPERIMENTS, "gpu"),
        mem_mb=experiment_setting(EXPERIMENTS, "mem_mb"),
    retries: 2
    log:
        "logs/predict/{experiment}.log",
    benchmark:
        "benchmarks/predict/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/predict.py"


rule evaluate:
    input:
        "results/predictions/{experiment}.parquet",
    output:
        metrics=report(
            "results/metrics/{experiment}.csv",
            caption="../report/metrics.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "table": "metrics (test)"},
        ),
        table2=report(
            "results/metrics/{experiment}/table2.csv",
            caption="../report/table2.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "table": "Table 2: by size, z, TYPE"},
        ),
        uncertainty=report(
            "results/metrics/{experiment}/uncertainty_bins.csv",
            caption="../report/uncertainty_bins.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "table": "MC-dropout sigma per bin"},
        ),
        calibration=report(
            "results/metrics/{experiment}/calibration.csv",
            caption="../report/calibration.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "table": "uncertainty calibration"},
        ),
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        evaluation=METRIC_SETTINGS,
    log:
        "logs/evaluate/{experiment}.log",
    benchmark:
        "benchmarks/evaluate/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/evaluate.py"


rule baseline:
    input:
        tables=shard_paths("results/preprocess/{shard}.parquet"),
    output:
        "results/predictions/baseline-{baseline}.parquet",
    wildcard_constraints:
        baseline="|".join(BASELINES) or "(?!)",
    params:
        targets=REFERENCE_TARGETS,
        evaluation=BASELINE_SETTINGS,
        seed=cfg("seed"),
    threads: 2
    log:
        "logs/baseline/{baseline}.log",
    benchmark:
        "benchmarks/baseline/{baseline}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/baseline.py"


rule baseline_metrics:
    input:
        "results/predictions/baseline-{baseline}.parquet",
    output:
        report(
            "results/metrics/baseline-{baseline}.csv",
            caption="../report/baseline_metrics.rst",
            category="Training and evaluation",
            subcategory="baselines",
            labels={"experiment": "baseline-{baseline}", "table": "metrics (test)"},
        ),
    wildcard_constraints:
        baseline="|".join(BASELINES) or "(?!)",
    params:
        evaluation={"outlier_dex": EVALUATION["outlier_dex"]},
    log:
        "logs/baseline/{baseline}_metrics.log",
    benchmark:
        "benchmarks/baseline/{baseline}_metrics.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/baseline_metrics.py"


rule table1:
    input:
        metrics=expand("results/metrics/{name}.csv", name=TABLE1_ROWS),
    output:
        table1=report(
            "results/metrics/table1.csv",
            caption="../report/table1.rst",
            category="Training and evaluation",
            subcategory="summary",
            labels={"table": "Table 1: experiments and baselines"},
        ),
        gain=report(
            "results/metrics/image_gain.csv",
            caption="../report/image_gain.rst",
            category="Training and evaluation",
            subcategory="summary",
            labels={"table": "what the images add over the catalogue"},
        ),
    params:
        names=TABLE1_ROWS,
        experiments=EXPERIMENTS,
        reference=REFERENCE,
    log:
        "logs/evaluate/table1.log",
    benchmark:
        "benchmarks/evaluate/table1.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/table1.py"
