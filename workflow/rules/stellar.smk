# Stellar parameters from CARMENES spectra trained on BT-Settl (M.Tech thesis 2025;
# docs/contracts.md, stellar): the stellar mock (archive: mock) or the live downloads,
# each arm's observed stars and grid on one arm grid, the sample, then the Table 6.1
# analogue and figures. Training, prediction, fold gathering and metrics are the
# generic rules of train.smk. The grid rule alone takes the arm's resolving power:
# changing it reruns the grid and the synthetic-trained models, never the observed side.

from galstar.methods import stellar

STELLAR_RAW = f"{RAW}/stellar"
STELLAR_MOCK = f"{MOCK_ROOT}/stellar"
STELLAR_MODELS = stellar.model_settings(STELLAR) if STELLAR else {}


wildcard_constraints:
    arm="vis|nir",


rule stellar_mock:
    output:
        manifest=f"{STELLAR_MOCK}/manifest.json",
    params:
        n_stars=STELLAR_CFG.get("mock", {}).get("n_stars", 0),
        options=STELLAR_CFG.get("mock", {}).get("options", {}),
        seed=cfg("seed"),
    log:
        "logs/stellar/mock.log",
    benchmark:
        "benchmarks/stellar/mock.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_mock.py"


rule stellar_fetch:
    input:
        mock=f"{STELLAR_MOCK}/manifest.json" if ARCHIVE == "mock" else [],
    output:
        grid=f"{STELLAR_RAW}/grid_files.parquet",
        spectra=f"{STELLAR_RAW}/spectra_files.parquet",
        labels=f"{STELLAR_RAW}/labels.csv",
    params:
        archive=ARCHIVE,
        live=STELLAR_CFG.get("live", {}) if ARCHIVE == "live" else {},
        download=cfg("download"),
        seed=cfg("seed"),
    retries: 3
    log:
        "logs/stellar/fetch.log",
    benchmark:
        "benchmarks/stellar/fetch.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_fetch.py"


rule stellar_observed:
    input:
        spectra=f"{STELLAR_RAW}/spectra_files.parquet",
    output:
        table=stellar.OBSERVED_TABLE,
        array=stellar.OBSERVED_ARRAY,
    params:
        settings=lambda wildcards: stellar_observed_settings(wildcards.arm),
    log:
        "logs/stellar/observed_{arm}.log",
    benchmark:
        "benchmarks/stellar/observed_{arm}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_observed.py"


rule stellar_grid:
    input:
        grid=f"{STELLAR_RAW}/grid_files.parquet",
    output:
        table=stellar.GRID_TABLE,
        array=stellar.GRID_ARRAY,
    params:
        grid=lambda wildcards: stellar_arm(wildcards)["grid"],
        resolving_power=lambda wildcards: stellar_arm(wildcards)["resolving_power"],
        normalise=STELLAR_CFG.get("normalise", {}),
        augment=STELLAR_CFG.get("grid_augment", {}),
        seed=cfg("seed"),
    log:
        "logs/stellar/grid_{arm}.log",
    benchmark:
        "benchmarks/stellar/grid_{arm}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_grid.py"


rule stellar_sample:
    input:
        labels=f"{STELLAR_RAW}/labels.csv",
        observed=expand(stellar.OBSERVED_TABLE, arm=stellar.ARMS),
    output:
        sample=stellar.SAMPLE,
        rejects=report_table(
            stellar.REJECTS,
            caption="../report/stellar_rejects.rst",
            category="stellar",
            subcategory="data",
            labels={"table": "rejected spectra, grid models and labels, with reasons"},
        ),
    params:
        arms=list(stellar.ARMS),
        labels=STELLAR_CFG.get("labels", {}),
    log:
        "logs/stellar/sample.log",
    benchmark:
        "benchmarks/stellar/sample.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_sample.py"


rule stellar_results:
    input:
        **{n: paths.fill(paths.PREDICTIONS, method="stellar", name=n) for n in STELLAR_MODELS},
    output:
        table=report_table(
            paths.fill(paths.METHOD_TABLE, method="stellar", table="table6_1"),
            caption="../report/stellar_table6_1.rst",
            category="stellar",
            subcategory="summary",
            labels={"table": "Table 6.1: MAE, MSE, RMSE, bias per model and parameter"},
        ),
        gap=report_table(
            paths.fill(paths.METHOD_TABLE, method="stellar", table="synthetic_gap"),
            caption="../report/stellar_gap_table.rst",
            category="stellar",
            subcategory="summary",
            labels={"table": "synthetic gap: regimes a, b, c"},
        ),
    params:
        settings=STELLAR_MODELS,
    log:
        "logs/stellar/results.log",
    benchmark:
        "benchmarks/stellar/results.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/stellar_results.py"


rule stellar_gap_figure:
    input:
        paths.fill(paths.METHOD_TABLE, method="stellar", table="synthetic_gap"),
    output:
        report(
            paths.fill(paths.METHOD_FIGURE, method="stellar", figure="synthetic_gap"),
            caption="../report/stellar_gap.rst",
            category="stellar",
            subcategory="summary",
            labels={"figure": "synthetic gap: MAE of regimes a, b, c"},
        ),
    log:
        "logs/stellar/gap_figure.log",
    benchmark:
        "benchmarks/stellar/gap_figure.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/stellar_gap_figure.py"


rule stellar_pred_vs_true:
    input:
        paths.PREDICTIONS,
    output:
        report(
            paths.fill(paths.FIGURE, figure="pred_vs_true"),
            caption="../report/stellar_pred_vs_true.rst",
            category="stellar",
            subcategory="{name}",
            labels={"model": "{name}", "figure": "predicted vs literature"},
        ),
    wildcard_constraints:
        method="stellar",
    params:
        settings=lambda wildcards: STELLAR_MODELS[wildcards.name],
    log:
        "logs/{method}/plots/{name}_pred_vs_true.log",
    benchmark:
        "benchmarks/{method}/plots/{name}_pred_vs_true.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/stellar_pred_vs_true.py"


rule stellar_preprocessing_figure:
    input:
        spectra=f"{STELLAR_RAW}/spectra_files.parquet",
        grid=f"{STELLAR_RAW}/grid_files.parquet",
        sample=stellar.SAMPLE,
        observed=paths.fill(stellar.OBSERVED_TABLE, arm="vis"),
    output:
        report(
            paths.fill(paths.METHOD_FIGURE, method="stellar", figure="preprocessing"),
            caption="../report/stellar_preprocessing.rst",
            category="stellar",
            subcategory="data",
            labels={"figure": "one star through the preprocessing"},
        ),
    params:
        arm="vis",
        settings=stellar_observed_settings("vis"),
        resolving_power=STELLAR_CFG["arms"]["vis"]["resolving_power"] if STELLAR else 0,
    log:
        "logs/stellar/preprocessing_figure.log",
    benchmark:
        "benchmarks/stellar/preprocessing_figure.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/stellar_preprocessing_figure.py"
