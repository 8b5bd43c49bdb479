# Multi-modal SDSS (seed 001; docs/contracts.md, multimodal): z and the eight DR7 SFR
# statistics from ugriz images and spectra. The networks (image CNN, spectrum dense and
# 1D-conv nets, early fusion with and without modality dropout) train, predict and are
# scored by the generic rules of train.smk; this file adds the feature baselines (k-fold
# CV on the training split), late fusion (stacking on the validation split), active
# learning, the latent-space maps, the results table and the figures.

include: "multimodal_inputs.smk"


rule multimodal_features:
    input:
        unpack(mm_feature_inputs),
    output:
        MM_FEATURES,
    wildcard_constraints:
        modality="image|spectrum",
    params:
        settings=lambda wildcards: (MM_CFG.get("features") or {}).get(wildcards.modality) or {},
    log:
        "logs/multimodal/features/{modality}.log",
    benchmark:
        "benchmarks/multimodal/features/{modality}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_features.py"


rule multimodal_tabular:
    input:
        unpack(mm_tabular_inputs),
    output:
        predictions=paths.fill(paths.PREDICTIONS, method="multimodal", name="{tabular}"),
        fit=paths.fill(MM_FIT, experiment="{tabular}"),
        cv=report_table(
            MM_CV,
            caption="../report/multimodal_cv.rst",
            category="multimodal",
            subcategory="{tabular}",
            labels={"model": "{tabular}", "table": "k-fold CV grid on the training split"},
        ),
    wildcard_constraints:
        tabular=mm_regex(MM_TABULAR),
    params:
        spec=lambda wildcards: MM_TABULAR[wildcards.tabular],
        cv_folds=(MM_CFG.get("tabular") or {}).get("cv_folds", 3),
        seed=cfg("seed"),
    threads: job_threads(2)
    log:
        "logs/multimodal/tabular/{tabular}.log",
    benchmark:
        "benchmarks/multimodal/tabular/{tabular}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_tabular.py"


rule multimodal_late_fusion:
    input:
        lambda wildcards: [mm_prediction(m) for m in MM_LATE[wildcards.fusion]["members"]],
    output:
        predictions=paths.fill(paths.PREDICTIONS, method="multimodal", name="{fusion}"),
        fit=paths.fill(MM_FIT, experiment="{fusion}"),
    wildcard_constraints:
        fusion=mm_regex(MM_LATE),
    params:
        spec=lambda wildcards: MM_LATE[wildcards.fusion],
        seed=cfg("seed"),
    log:
        "logs/multimodal/late_fusion/{fusion}.log",
    benchmark:
        "benchmarks/multimodal/late_fusion/{fusion}.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_late_fusion.py"


rule multimodal_active_learning:
    input:
        **(mm_experiment_inputs(MM_ACTIVE["experiment"]) if MM_ACTIVE else {}),
    output:
        curve=report_table(
            f"{MM}/metrics/active_learning.csv",
            caption="../report/multimodal_active_learning.rst",
            category="multimodal",
            subcategory="active learning",
            labels={"table": "R2 against the number of labels"},
        ),
        summary=report_table(
            f"{MM}/metrics/active_learning_summary.csv",
            caption="../report/multimodal_active_learning.rst",
            category="multimodal",
            subcategory="active learning",
            labels={"table": "labels each strategy needs to reach random's final R2"},
        ),
        acquired=f"{MM}/active_learning/acquired.parquet",
        figure=report(
            paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="active_learning"),
            caption="../report/multimodal_active_learning.rst",
            category="multimodal",
            subcategory="active learning",
            labels={"figure": "active-learning curves"},
        ),
    params:
        experiment=MULTIMODAL.get(MM_ACTIVE.get("experiment")) if MM_ACTIVE else {},
        settings=MM_ACTIVE,
        seed=cfg("seed"),
    # a Keras training like `train`: its threads and priority
    threads: job_threads(MM_ACTIVE_EXPERIMENT.get("threads", 2))
    priority: MM_ACTIVE.get("priority", MM_ACTIVE_EXPERIMENT.get("priority", 0))
    resources:
        gpu=MM_ACTIVE_EXPERIMENT.get("gpu", 0),
        mem_mb=MM_ACTIVE_EXPERIMENT.get("mem_mb", 4000),
        runtime=MM_ACTIVE_EXPERIMENT.get("runtime", 60),
    log:
        "logs/multimodal/active_learning.log",
    benchmark:
        "benchmarks/multimodal/active_learning.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_active_learning.py"


rule multimodal_latent_maps:
    input:
        **mm_latent_inputs(),
    output:
        embedding=f"{MM}/latent/embedding.parquet",
        figure=report(
            paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="latent_maps"),
            caption="../report/multimodal_latent_maps.rst",
            category="multimodal",
            subcategory="summary",
            labels={"figure": "t-SNE and UMAP of the fused latent space"},
        ),
    params:
        experiment=MULTIMODAL.get(MM_MAPS.get("experiment")) if MM_MAPS else {},
        settings=MM_MAPS,
        seed=cfg("seed"),
    log:
        "logs/multimodal/latent_maps.log",
    benchmark:
        "benchmarks/multimodal/latent_maps.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_latent_maps.py"


rule multimodal_results:
    input:
        mm_results_inputs,
    output:
        results=report_table(
            paths.fill(paths.METHOD_TABLE, method="multimodal", table="results"),
            caption="../report/multimodal_results.rst",
            category="multimodal",
            subcategory="summary",
            labels={"table": "every model: N, RMSE, R2, MAE per target, photo-z, times"},
        ),
        fusion=report_table(
            paths.fill(paths.METHOD_TABLE, method="multimodal", table="fusion"),
            caption="../report/multimodal_fusion.rst",
            category="multimodal",
            subcategory="summary",
            labels={"table": "early and late fusion against the best single modality"},
        ),
    params:
        spec=mm_results_spec(),
        outlier=MM_EVALUATION.get("photoz_outlier", 0.05),
    log:
        "logs/multimodal/results.log",
    benchmark:
        "benchmarks/multimodal/results.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_results.py"


rule multimodal_figures:
    input:
        results=paths.fill(paths.METHOD_TABLE, method="multimodal", table="results"),
        predictions=[mm_prediction(n) for n in MM_FIGURE_MODELS],
    output:
        r2=report(
            paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="r2"),
            caption="../report/multimodal_r2.rst",
            category="multimodal",
            subcategory="summary",
            labels={"figure": "R2 per target and model"},
        ),
        pred_vs_true=report(
            paths.fill(paths.METHOD_FIGURE, method="multimodal", figure="pred_vs_true"),
            caption="../report/multimodal_pred_vs_true.rst",
            category="multimodal",
            subcategory="summary",
            labels={"figure": "predicted vs true z and median SFR"},
        ),
    params:
        names=MM_FIGURE_MODELS,
    log:
        "logs/multimodal/figures.log",
    benchmark:
        "benchmarks/multimodal/figures.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/multimodal_figures.py"
