# A prediction run for stellar spectra (included by predict_targets.smk): the list's
# files or URLs (downloaded resumably) in the fetch rule's file-table format, then the
# training's observed chain with the config's arm settings.


rule targets_spectra:
    input:
        targets=PREDICT_TARGETS,
    output:
        table=f"{P_DIR}/targets.parquet",
        spectra=f"{P_DIR}/spectra_files.parquet",
    params:
        arms=P_INPUTS["arms"],
        cache_dir=f"{P_RAW}/spectra",
        download=DOWNLOAD,
        seed=cfg("seed"),
    retries: 3
    log:
        f"logs/predict/{P_RUN}/spectra.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/spectra.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/targets_spectra.py"


rule targets_observed:
    input:
        spectra=f"{P_DIR}/spectra_files.parquet",
    output:
        table=f"{P_DIR}/observed/{{arm}}.parquet",
        array=f"{P_DIR}/observed/{{arm}}.npy",
    params:
        settings=lambda wildcards: stellar_observed_settings(wildcards.arm),
    log:
        f"logs/predict/{P_RUN}/observed_{{arm}}.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/observed_{{arm}}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_observed.py"
