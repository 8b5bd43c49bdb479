# Inference on a user's own targets (docs/contracts.md, Inference; README, "Predicting for
# your own targets"). package_model makes each trained experiment a portable model
# directory; `snakemake predict_targets --config targets=<list> model=<model dir>` runs
# the training's own acquisition and preprocessing scripts on the targets (sharded,
# resumable), then predicts with the model's recorded settings and calibration.

include: "predict_common.smk"


rule package_model:
    input:
        unpack(experiment_inputs),
        unpack(package_inputs),
    output:
        [paths.fill(paths.MODEL_PACKAGE, file=f) for f in PACKAGE_FILES],
    wildcard_constraints:
        method="|".join(PACKAGED_METHODS) or "(?!)",
        experiment=EXPERIMENT_REGEX,
    params:
        experiment=experiment,
        evaluated_as=evaluated_as,
        preprocessing=lambda wildcards: model_preprocessing.preprocessing_record(
            config, wildcards.method, experiment(wildcards)
        ),
        inference=lambda wildcards: inference_settings(wildcards.method),
        archive=ARCHIVE,
    log:
        "logs/{method}/package/{experiment}.log",
    benchmark:
        "benchmarks/{method}/package/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/package_model.py"


rule predict_targets:
    input:
        predict_outputs,
    localrule: True


if PREDICT_TARGETS:

    include: "predict_targets_stars.smk" if P_KIND == "stars" else "predict_targets_galaxies.smk"

    rule targets_predict:
        input:
            unpack(predict_prepared),
            unpack(predict_model_files),
        output:
            parquet=P_OUT,
            fits=P_FITS,
        params:
            kind=P_KIND,
            arms=P_INPUTS.get("arms", []),
            model_dir=PREDICT_MODEL,
            preprocessing=P_PREPROCESSING,
            targets_file=PREDICT_TARGETS,
        threads: job_threads(2)
        resources:
            gpu=lambda wildcards: P_EXPERIMENT.get("gpu", 0),
            mem_mb=lambda wildcards: P_EXPERIMENT.get("mem_mb", 6000),
        log:
            f"logs/predict/{P_RUN}/predict.log",
        benchmark:
            f"benchmarks/predict/{P_RUN}/predict.tsv"
        conda:
            "../../envs/train.yaml"
        script:
            "../scripts/targets_predict.py"
