# Hyperparameters by k-fold cross-validation on the training split (experiment key
# `tune`; galstar.training.tuning): one trial job per grid point and fold, trained like
# any experiment but on its folds, then the choice that the experiment's train job reads.


rule tune_trial:
    input:
        unpack(experiment_inputs),
    output:
        model=temp(f"{paths.TRIAL_DIR}/model.keras"),
        scaler=temp(f"{paths.TRIAL_DIR}/scaler.json"),
        history=f"{paths.TRIAL_DIR}/history.csv",
        config=f"{paths.TRIAL_DIR}/config.yaml",
    wildcard_constraints:
        experiment=tuning_regex("experiment"),
        trial=tuning_regex("trial"),
    params:
        experiment=trial_settings,
        seed=cfg("seed"),
    threads: lambda wildcards: job_threads(trial_settings(wildcards)["threads"])
    resources:
        gpu=lambda wildcards: trial_settings(wildcards)["gpu"],
        mem_mb=lambda wildcards: trial_settings(wildcards)["mem_mb"],
        runtime=lambda wildcards: trial_settings(wildcards)["runtime"],
    retries: 2
    log:
        "logs/{method}/tune/{experiment}/{trial}.log",
    benchmark:
        "benchmarks/{method}/tune/{experiment}/{trial}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/train.py"


rule tune_select:
    input:
        unpack(trial_histories),
    output:
        tuned=paths.TUNED,
        table=report_table(
            paths.TUNING_TABLE,
            caption="../report/tuning.rst",
            category="{method}",
            subcategory="{experiment}",
            labels={"model": "{experiment}", "table": "hyperparameters by cross-validation"},
        ),
    wildcard_constraints:
        experiment=tuning_regex("experiment"),
    params:
        trials=lambda wildcards: TUNING_TRIALS[wildcards.method][wildcards.experiment],
        grid=lambda wildcards: experiment(wildcards)["tune"]["grid"],
    log:
        "logs/{method}/tune/{experiment}/select.log",
    benchmark:
        "benchmarks/{method}/tune/{experiment}/select.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/tune_select.py"
