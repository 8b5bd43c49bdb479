# GalEffNet (Zhong et al. 2024; docs/contracts.md, GalEffNet): the method's own tables
# and figures. Training, prediction, baselines and metrics are the generic rules of
# train.smk; this file adds Table 1, Table 2, the image gain and the paper's figures.

from galstar.methods import galeffnet

GALEFFNET = EXPERIMENTS.get("galeffnet", {})
GALEFFNET_EVALUATION = method_evaluation("galeffnet") if GALEFFNET else {}
GALEFFNET_REGEX = "|".join(map(re.escape, GALEFFNET)) or "(?!)"
GALEFFNET_BASELINES = cfg("galeffnet", "baselines") if GALEFFNET else {}
# Table 1 rows: experiments in config order, then the baselines.
TABLE1_ROWS = model_names("galeffnet") if GALEFFNET else []


rule galeffnet_breakdown:
    input:
        paths.fill(paths.PREDICTIONS, method="galeffnet", name="{experiment}"),
    output:
        table2=report_table(
            "results/galeffnet/metrics/{experiment}/table2.csv",
            caption="../report/table2.rst",
            category="galeffnet",
            subcategory="{experiment}",
            labels={"model": "{experiment}", "table": "Table 2: by size, z, TYPE"},
        ),
        uncertainty=report_table(
            "results/galeffnet/metrics/{experiment}/uncertainty_bins.csv",
            caption="../report/uncertainty_bins.rst",
            category="galeffnet",
            subcategory="{experiment}",
            labels={"model": "{experiment}", "table": "MC-dropout sigma per bin"},
        ),
    wildcard_constraints:
        experiment=GALEFFNET_REGEX,
    params:
        evaluation={
            k: GALEFFNET_EVALUATION.get(k)
            for k in ("outlier_dex", "sigma_bin_dex", "size_bins_arcsec", "redshift_bins")
        },
    log:
        "logs/galeffnet/evaluate/{experiment}_breakdown.log",
    benchmark:
        "benchmarks/galeffnet/evaluate/{experiment}_breakdown.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/galeffnet_breakdown.py"


rule galeffnet_table1:
    input:
        metrics=[paths.fill(paths.METRICS, method="galeffnet", name=n) for n in TABLE1_ROWS],
    output:
        table1=report_table(
            paths.fill(paths.METHOD_TABLE, method="galeffnet", table="table1"),
            caption="../report/table1.rst",
            category="galeffnet",
            subcategory="summary",
            labels={"table": "Table 1: experiments and baselines"},
        ),
        gain=report_table(
            paths.fill(paths.METHOD_TABLE, method="galeffnet", table="image_gain"),
            caption="../report/image_gain.rst",
            category="galeffnet",
            subcategory="summary",
            labels={"table": "what the images add over the catalogue"},
        ),
    params:
        names=TABLE1_ROWS,
        settings={**GALEFFNET, **{f"baseline-{k}": v for k, v in GALEFFNET_BASELINES.items()}},
    log:
        "logs/galeffnet/evaluate/table1.log",
    benchmark:
        "benchmarks/galeffnet/evaluate/table1.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/galeffnet_table1.py"


rule galeffnet_figures:
    input:
        predictions=paths.fill(paths.PREDICTIONS, method="galeffnet", name="{experiment}"),
        table2="results/galeffnet/metrics/{experiment}/table2.csv",
        uncertainty="results/galeffnet/metrics/{experiment}/uncertainty_bins.csv",
    output:
        **{
            f: report(
                paths.fill(paths.FIGURE, method="galeffnet", name="{experiment}", figure=f),
                caption=f"../report/fig_{f}.rst",
                category="galeffnet",
                subcategory="{experiment}",
                labels={"model": "{experiment}", "figure": title},
            )
            for f, title in (
                ("pred_vs_ref", "Fig. 7: predicted vs reference"),
                ("distributions", "Fig. 8: distributions"),
                ("uncertainty", "Fig. 9: MC-dropout sigma"),
                ("by_size", "Fig. 13: by galaxy size"),
                ("by_redshift", "Fig. 14: by redshift"),
                ("by_type", "Fig. 15: by DR9 TYPE"),
            )
        },
    wildcard_constraints:
        experiment=GALEFFNET_REGEX,
    params:
        outlier_dex=GALEFFNET_EVALUATION.get("outlier_dex"),
    log:
        "logs/galeffnet/plots/{experiment}_figures.log",
    benchmark:
        "benchmarks/galeffnet/plots/{experiment}_figures.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/galeffnet_figures.py"


rule galeffnet_ablation:
    input:
        paths.fill(paths.METHOD_TABLE, method="galeffnet", table="table1"),
    output:
        report(
            paths.fill(paths.METHOD_FIGURE, method="galeffnet", figure="ablation_{kind}"),
            caption="../report/fig_ablation.rst",
            category="galeffnet",
            subcategory="ablations",
            labels={"figure": "Figs. 11-12: ablation {kind}"},
        ),
    wildcard_constraints:
        kind="bands|resolution",
    params:
        base=(cfg("galeffnet", "ablations") or {}).get("base") if GALEFFNET else None,
        order=lambda wildcards: galeffnet.ABLATION_ORDER[wildcards.kind],
        targets=list(galeffnet.label_columns(GALEFFNET)) if GALEFFNET else [],
    log:
        "logs/galeffnet/plots/ablation_{kind}.log",
    benchmark:
        "benchmarks/galeffnet/plots/ablation_{kind}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/plot_ablation.py"
