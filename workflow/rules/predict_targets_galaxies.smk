# A prediction run for galaxy positions (included by predict_targets.smk): the targets
# matched to DR9 and sharded, then the training's own scripts and settings: neighbours,
# cutouts from the config's archive (mock or live; resumable), preprocessing, variant.


rule targets_catalog:
    input:
        targets=PREDICT_TARGETS,
        sweeps=f"{RAW}/dr9_sweeps.txt",
    output:
        table=f"{P_DIR}/targets.parquet",
        shards=expand(f"{P_DIR}/catalog/{{shard}}.parquet", shard=P_SHARDS),
    params:
        radius_arcsec=cfg("galaxies", "crossmatch", "radius_arcsec"),
        chunk_rows=cfg("galaxies", "crossmatch", "chunk_rows"),
        need_redshift=P_INPUTS["with_redshift"],
    log:
        f"logs/predict/{P_RUN}/catalog.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/catalog.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/targets_catalog.py"


rule targets_neighbours:
    input:
        shards=expand(f"{P_DIR}/catalog/{{shard}}.parquet", shard=P_SHARDS),
        sweeps=f"{RAW}/dr9_sweeps.txt",
    output:
        expand(f"{P_DIR}/neighbours/{{shard}}.parquet", shard=P_SHARDS),
    params:
        radius_arcsec=PREPROCESS_BLEND.get("catalog_radius_arcsec", 45.0),
        chunk_rows=cfg("galaxies", "crossmatch", "chunk_rows"),
    log:
        f"logs/predict/{P_RUN}/neighbours.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/neighbours.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/preprocess_neighbours.py"


rule targets_cutouts:
    input:
        shard=f"{P_DIR}/catalog/{{shard}}.parquet",
        mock=mock_archive_marker(),
    output:
        f"{P_RAW}/cutouts/{{shard}}.parquet",
    params:
        **ACQUIRE,
        cutout=cfg("galaxies", "cutout"),
        concurrency=lambda wildcards, threads: (
            threads if ARCHIVE == "mock" else DOWNLOAD["concurrency"]
        ),
        download=DOWNLOAD,
    threads: job_threads(2)
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/predict/{P_RUN}/cutouts/{{shard}}.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/cutouts/{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/fetch_cutouts.py"


rule targets_preprocess:
    input:
        manifest=f"{P_RAW}/cutouts/{{shard}}.parquet",
        catalog=f"{P_DIR}/catalog/{{shard}}.parquet",
        neighbours=target_neighbours,
    output:
        table=f"{P_DIR}/preprocess/{{shard}}.parquet",
        images=f"{P_DIR}/preprocess/grz-{PREPROCESS_CROP}/{{shard}}.npy",
    params:
        preprocess=PREPROCESS,
    threads: job_threads(8)
    log:
        f"logs/predict/{P_RUN}/preprocess/{{shard}}.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/preprocess/{{shard}}.tsv"
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/preprocess_shard.py"


rule targets_variant:
    input:
        f"{P_DIR}/preprocess/grz-{PREPROCESS_CROP}/{{shard}}.npy",
    output:
        f"{P_DIR}/preprocess/{{variant}}/{{shard}}.npy",
    wildcard_constraints:
        variant="|".join(PREPROCESS_VARIANTS),
    params:
        bands=lambda wildcards: wildcards.variant.split("-")[0],
        resolution=lambda wildcards: int(wildcards.variant.split("-")[1]),
    log:
        f"logs/predict/{P_RUN}/variant_{{variant}}_{{shard}}.log",
    benchmark:
        f"benchmarks/predict/{P_RUN}/variant_{{variant}}_{{shard}}.tsv"
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/preprocess_variant.py"
