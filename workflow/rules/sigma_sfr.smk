# Residual 1D CNN for low Sigma_SFR (design note v1.4; docs/contracts.md, sigma_sfr):
# the sample (features and target of every galaxy of the shared cross-match), the
# results table and the figures. Training, prediction, the baseline and the metrics
# are the generic rules of train.smk.

from galstar.methods import sigma_sfr

SIGMA_SFR = EXPERIMENTS.get("sigma_sfr", {})
SIGMA_SFR_MODELS = model_names("sigma_sfr") if SIGMA_SFR else []
SIGMA_SFR_EVALUATION = method_evaluation("sigma_sfr") if SIGMA_SFR else {}


rule sigma_sfr_sample:
    input:
        shard_paths(paths.CATALOG_SHARD),
    output:
        sigma_sfr.SAMPLE,
    params:
        features=cfg("sigma_sfr", "features") if SIGMA_SFR else [],
        cosmology=config.get("sigma_sfr", {}).get("cosmology", "Planck18"),
    log:
        "logs/sigma_sfr/sample.log",
    benchmark:
        "benchmarks/sigma_sfr/sample.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sigma_sfr_sample.py"


rule sigma_sfr_results:
    input:
        **{n: paths.fill(paths.PREDICTIONS, method="sigma_sfr", name=n) for n in SIGMA_SFR_MODELS},
    output:
        results=report_table(
            paths.fill(paths.METHOD_TABLE, method="sigma_sfr", table="results"),
            caption="../report/sigma_sfr_results.rst",
            category="sigma_sfr",
            subcategory="summary",
            labels={"table": "experiments and baseline, overall and at the low end"},
        ),
        bins=report_table(
            paths.fill(paths.METHOD_TABLE, method="sigma_sfr", table="residual_bins"),
            caption="../report/sigma_sfr_bins.rst",
            category="sigma_sfr",
            subcategory="summary",
            labels={"table": "residuals in bins of true Sigma_SFR"},
        ),
    params:
        settings={k: SIGMA_SFR_EVALUATION.get(k) for k in ("n_bins", "low_fraction")},
    log:
        "logs/sigma_sfr/results.log",
    benchmark:
        "benchmarks/sigma_sfr/results.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sigma_sfr_results.py"


rule sigma_sfr_figures:
    input:
        **{n: paths.fill(paths.PREDICTIONS, method="sigma_sfr", name=n) for n in SIGMA_SFR_MODELS},
    output:
        residuals=report(
            paths.fill(paths.METHOD_FIGURE, method="sigma_sfr", figure="residuals"),
            caption="../report/sigma_sfr_residuals.rst",
            category="sigma_sfr",
            subcategory="summary",
            labels={"figure": "residual against true Sigma_SFR"},
        ),
        pred_vs_true=report(
            paths.fill(paths.METHOD_FIGURE, method="sigma_sfr", figure="pred_vs_true"),
            caption="../report/sigma_sfr_pred_vs_true.rst",
            category="sigma_sfr",
            subcategory="summary",
            labels={"figure": "predicted vs true Sigma_SFR"},
        ),
    params:
        settings={k: SIGMA_SFR_EVALUATION.get(k) for k in ("n_bins", "low_fraction")},
    log:
        "logs/sigma_sfr/figures.log",
    benchmark:
        "benchmarks/sigma_sfr/figures.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sigma_sfr_figures.py"
