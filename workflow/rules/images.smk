# Stage 3: galaxy image preprocessing (docs/contracts.md, Stage 3). One job per shard
# masks, rejects and crops; variants are cheap rules on its tensor; summaries and the
# truth-scored quality table read the shard outputs.

# Every config value that changes the preprocessed images (params rerun trigger): the
# galaxies.preprocess section plus the cutout pixel scale (radius in arcsec).
PREPROCESS = {
    key: value
    for key, value in cfg("galaxies", "preprocess").items()
    if key not in ("quality", "figure")
}
PREPROCESS["pixscale"] = cfg("galaxies", "cutout", "pixscale")
PREPROCESS_CROP = cfg("galaxies", "preprocess", "crop")
PREPROCESS_QUALITY = cfg("galaxies", "preprocess", "quality")
PREPROCESS_FIGURE = cfg("galaxies", "preprocess", "figure")
VARIANT_BANDS = ["g", "r", "z", "gr", "gz", "rz", "grz"]
VARIANT_RESOLUTIONS = [64, 32, 16, 8]
# Every "{bands}-{resolution}" the variant rule makes; grz at the crop size is the shard
# rule's own output, so it is left out (a rule cannot be its own input).
PREPROCESS_VARIANTS = [
    f"{bands}-{res}"
    for bands in VARIANT_BANDS
    for res in VARIANT_RESOLUTIONS
    if not (bands == "grz" and res == PREPROCESS_CROP)
]


PREPROCESS_QUALITY_SHARDS = preprocess_quality_shards(PREPROCESS_QUALITY["n_shards"])
if IMAGE_METHODS & set(METHODS):  # only the image methods need the preprocessed cutouts
    STAGE_TARGETS.append(preprocess_targets)

# The catalogue blend pass (galaxies.preprocess.blend.catalog_contamination_max > 0)
# reads each target's DR9 neighbours; with it off, nothing depends on the sweeps here.
PREPROCESS_BLEND = cfg("galaxies", "preprocess", "blend")
CATALOG_PASS = float(PREPROCESS_BLEND.get("catalog_contamination_max", 0.0)) > 0


rule catalog_neighbours:
    input:
        shards=shard_paths(paths.CATALOG_SHARD),
        sweeps=f"{RAW}/dr9_sweeps.txt",
    output:
        shard_paths(paths.NEIGHBOURS),
    params:
        radius_arcsec=PREPROCESS_BLEND.get("catalog_radius_arcsec", 45.0),
        # rows of a sweep file read at a time: bounds memory, never changes the result
        chunk_rows=cfg("galaxies", "crossmatch", "chunk_rows"),
    log:
        "logs/catalog/neighbours.log",
    benchmark:
        "benchmarks/catalog/neighbours.tsv"
    conda:
        "../../envs/data.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/preprocess_neighbours.py"


rule preprocess_shard:
    input:
        manifest=f"{RAW}/cutouts/{{shard}}.parquet",
        catalog=paths.CATALOG_SHARD,
        neighbours=lambda wildcards: (
            [paths.fill(paths.NEIGHBOURS, shard=wildcards.shard)] if CATALOG_PASS else []
        ),
    output:
        table=paths.PREPROCESS_TABLE,
        images=paths.fill(paths.PREPROCESS_TENSOR, variant=f"grz-{PREPROCESS_CROP}"),
    params:
        preprocess=PREPROCESS,
    threads: job_threads(8)
    log:
        "logs/preprocess/{shard}.log",
    benchmark:
        "benchmarks/preprocess/{shard}.tsv"
    conda:
        "../../envs/images.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/preprocess_shard.py"


rule preprocess_variant:
    input:
        paths.fill(paths.PREPROCESS_TENSOR, variant=f"grz-{PREPROCESS_CROP}"),
    output:
        paths.PREPROCESS_TENSOR,
    wildcard_constraints:
        variant="|".join(PREPROCESS_VARIANTS),
    params:
        bands=lambda wildcards: wildcards.variant.split("-")[0],
        resolution=lambda wildcards: int(wildcards.variant.split("-")[1]),
    log:
        "logs/preprocess/variant_{variant}_{shard}.log",
    benchmark:
        "benchmarks/preprocess/variant_{variant}_{shard}.tsv"
    conda:
        "../../envs/images.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/preprocess_variant.py"


rule preprocess_summary:
    input:
        tables=shard_paths(paths.PREPROCESS_TABLE),
        manifests=shard_paths(f"{RAW}/cutouts/{{shard}}.parquet"),
    output:
        counts=report_table(
            paths.REJECT_COUNTS,
            caption="../report/preprocess_reject_counts.rst",
            category="Preprocessing",
            labels={"table": "objects kept and rejected, by reason"},
        ),
        figure=report(
            paths.STEPS_FIG,
            caption="../report/preprocess_steps.rst",
            category="Preprocessing",
            labels={"figure": "the preprocessing steps on example cutouts"},
        ),
    params:
        preprocess=PREPROCESS,
        n_objects=PREPROCESS_FIGURE["n_objects"],
        seed=cfg("seed"),
    log:
        "logs/preprocess/summary.log",
    benchmark:
        "benchmarks/preprocess/summary.tsv"
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/preprocess_summary.py"


rule preprocess_quality:
    input:
        tables=expand(paths.PREPROCESS_TABLE, shard=PREPROCESS_QUALITY_SHARDS),
        manifests=expand(f"{RAW}/cutouts/{{shard}}.parquet", shard=PREPROCESS_QUALITY_SHARDS),
        neighbours=(
            expand(paths.NEIGHBOURS, shard=PREPROCESS_QUALITY_SHARDS) if CATALOG_PASS else []
        ),
        archive=mock_archive_marker(),
    output:
        quality=report_table(
            paths.QUALITY,
            caption="../report/preprocess_quality.rst",
            category="Preprocessing",
            labels={"table": "preprocessing scored against the mock's truth"},
        ),
        scores=paths.QUALITY_SCORES,
    params:
        preprocess=PREPROCESS,
        # the archive root: <root>/skyserver/galSpec.fits
        mock_root=lambda wildcards, input: str(Path(input.archive).parents[1]),
        max_cutouts=PREPROCESS_QUALITY["max_cutouts"],
        seed=cfg("seed"),
        cutout=cfg("galaxies", "cutout"),
    log:
        "logs/preprocess/quality.log",
    benchmark:
        "benchmarks/preprocess/quality.tsv"
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/preprocess_quality.py"
