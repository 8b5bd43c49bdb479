# Stage 4c: figures (plotting only: each rule reads tables that compute rules wrote).

# x-axis order of the ablation figures (paper Figs 11 and 12).
ABLATION_ORDER = {
    "bands": ["g", "r", "z", "gr", "gz", "rz", "grz"],
    "resolution": [8, 16, 32, 64],
}


rule plot_learning_curve:
    input:
        "results/models/{experiment}/history.csv",
    output:
        report(
            "results/models/{experiment}/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "learning curve"},
        ),
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    log:
        "logs/plots/{experiment}_learning_curve.log",
    benchmark:
        "benchmarks/plots/{experiment}_learning_curve.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/plot_learning_curve.py"


rule plot_experiment:
    input:
        predictions="results/predictions/{experiment}.parquet",
        table2="results/metrics/{experiment}/table2.csv",
        uncertainty="results/metrics/{experiment}/uncertainty_bins.csv",
    output:
        pred_vs_ref=report(
            "results/figures/{experiment}/pred_vs_ref.png",
            caption="../report/fig_pred_vs_ref.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 7: predicted vs reference"},
        ),
        distributions=report(
            "results/figures/{experiment}/distributions.png",
            caption="../report/fig_distributions.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 8: distributions"},
        ),
        uncertainty=report(
            "results/figures/{experiment}/uncertainty.png",
            caption="../report/fig_uncertainty.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 9: MC-dropout sigma"},
        ),
        by_size=report(
            "results/figures/{experiment}/by_size.png",
            caption="../report/fig_by_size.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 13: by galaxy size"},
        ),
        by_redshift=report(
            "results/figures/{experiment}/by_redshift.png",
            caption="../report/fig_by_redshift.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 14: by redshift"},
        ),
        by_type=report(
            "results/figures/{experiment}/by_type.png",
            caption="../report/fig_by_type.rst",
            category="Training and evaluation",
            subcategory="{experiment}",
            labels={"experiment": "{experiment}", "figure": "Fig. 15: by DR9 TYPE"},
        ),
    wildcard_constraints:
        experiment=EXPERIMENT_REGEX,
    params:
        outlier_dex=cfg("evaluation", "outlier_dex"),
    log:
        "logs/plots/{experiment}_figures.log",
    benchmark:
        "benchmarks/plots/{experiment}_figures.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/plot_experiment.py"


rule plot_ablation:
    input:
        "results/metrics/table1.csv",
    output:
        report(
            "results/figures/ablation_{kind}.png",
            caption="../report/fig_ablation.rst",
            category="Training and evaluation",
            subcategory="ablations",
            labels={"figure": "Figs. 11-12: ablation {kind}"},
        ),
    wildcard_constraints:
        kind="bands|resolution",
    params:
        base=ABLATIONS.get("base", REFERENCE),
        order=lambda wildcards: ABLATION_ORDER[wildcards.kind],
        targets=REFERENCE_TARGETS,
    log:
        "logs/plots/ablation_{kind}.log",
    benchmark:
        "benchmarks/plots/ablation_{kind}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/plot_ablation.py"
