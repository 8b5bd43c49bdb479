# Training, prediction and evaluation for every method (docs/contracts.md, Training).
# One job per method and experiment; the experiment's whole resolved config is a
# param, so editing one experiment retrains that experiment (and what is derived from
# it) only. The method module says which files an experiment reads.

EXPERIMENT_REGEX = experiment_regex()


rule train:
    input:
        unpack(experiment_inputs),
        unpack(experiment_init),
        unpack(experiment_tuned),
    output:
        model=paths.MODEL,
        scaler=paths.SCALER,
        history=paths.HISTORY,
        config=paths.MODEL_CONFIG,
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        experiment=experiment,
        seed=cfg("seed"),
    threads: experiment_threads
    priority: experiment_setting("priority")
    resources:
        gpu=experiment_setting("gpu"),
        mem_mb=experiment_setting("mem_mb"),
        runtime=experiment_setting("runtime"),
    # A node lost mid-epoch or an out-of-memory kill: the profile grows mem/runtime per attempt.
    retries: 2
    log:
        "logs/{method}/train/{experiment}.log",
    benchmark:
        "benchmarks/{method}/train/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"


rule predict:
    input:
        unpack(experiment_inputs),
        unpack(experiment_tuned),
        model=paths.MODEL,
        scaler=paths.SCALER,
    output:
        paths.fill(paths.PREDICTIONS, name="{experiment}"),
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        experiment=experiment,
        seed=cfg("seed"),
        options=lambda wildcards: {
            "mc_passes": method_evaluation(wildcards.method)["mc_passes"],
            "batch_size": method_evaluation(wildcards.method)["predict_batch_size"],
            "clip": method_evaluation(wildcards.method).get("clip_to_label_range", True),
            "tta": method_evaluation(wildcards.method).get("tta", "none"),
        },
    threads: experiment_threads
    priority: experiment_setting("priority")
    resources:
        gpu=experiment_setting("gpu"),
        mem_mb=experiment_setting("mem_mb"),
    retries: 2
    log:
        "logs/{method}/predict/{experiment}.log",
    benchmark:
        "benchmarks/{method}/predict/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/predict.py"


rule gather_folds:
    input:
        cv_folds,
    output:
        paths.PREDICTIONS,
    wildcard_constraints:
        name=cv_group_regex(),
    log:
        "logs/{method}/gather/{name}.log",
    benchmark:
        "benchmarks/{method}/gather/{name}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/gather_folds.py"


rule evaluate:
    input:
        paths.PREDICTIONS,
    output:
        metrics=report_table(
            paths.METRICS,
            caption="../report/metrics.rst",
            category="{method}",
            subcategory="{name}",
            labels={"model": "{name}", "table": "metrics on the test split"},
        ),
        calibration=report_table(
            paths.CALIBRATION,
            caption="../report/calibration.rst",
            category="{method}",
            subcategory="{name}",
            labels={"model": "{name}", "table": "interval coverage (raw, scaled, conformal)"},
        ),
    params:
        evaluation=evaluation_settings,
    log:
        "logs/{method}/evaluate/{name}.log",
    benchmark:
        "benchmarks/{method}/evaluate/{name}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/evaluate.py"


rule plot_learning_curve:
    input:
        paths.HISTORY,
    output:
        report(
            paths.LEARNING_CURVE,
            caption="../report/learning_curve.rst",
            category="{method}",
            subcategory="{experiment}",
            labels={"model": "{experiment}", "figure": "learning curve"},
        ),
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    log:
        "logs/{method}/plots/{experiment}_learning_curve.log",
    benchmark:
        "benchmarks/{method}/plots/{experiment}_learning_curve.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/plot_learning_curve.py"


rule calibration_summary:
    input:
        unpack(calibration_inputs),
    output:
        report_table(
            "results/calibration.csv",
            caption="../report/calibration_summary.rst",
            category="Methods compared",
            labels={"table": "interval coverage of every model"},
        ),
    log:
        "logs/calibration_summary.log",
    benchmark:
        "benchmarks/calibration_summary.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/calibration_summary.py"


rule baseline:
    input:
        unpack(lambda wildcards: get_method(wildcards.method).baseline_inputs(SHARDS)),
    output:
        paths.fill(paths.PREDICTIONS, name="baseline-{baseline}"),
    params:
        baseline=lambda wildcards: cfg(wildcards.method, "baselines", wildcards.baseline),
        label_columns=lambda wildcards: get_method(wildcards.method).label_columns(
            EXPERIMENTS[wildcards.method]
        ),
        seed=cfg("seed"),
    threads: job_threads(2)
    log:
        "logs/{method}/baseline/{baseline}.log",
    benchmark:
        "benchmarks/{method}/baseline/{baseline}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/baseline.py"
