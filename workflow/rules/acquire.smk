# Stage 1: acquisition (docs/contracts.md, Stage 1). The same three rules serve
# archive: mock (read or render from the mock archive) and archive: live (SkyServer SQL,
# Legacy Survey sweeps and cutouts over HTTP). Downloads are resumable: a failed or
# killed job keeps its valid files, and the rule's retries continue from them.

# Where bytes come from: the live endpoints (a mock run depends on none of them; its
# archive root is derived from the rule's input, the mock archive's galSpec.fits).
ACQUIRE_LIVE = (
    dict(
        skyserver_url=cfg("live", "skyserver", "url"),
        data_release=cfg("live", "skyserver", "data_release"),
        page_rows=cfg("live", "skyserver", "page_rows"),
        push_cuts=cfg("live", "skyserver", "push_cuts"),
        cutout_url=cfg("live", "legacysurvey", "cutout_url"),
        sweep_url=cfg("live", "legacysurvey", "sweep_url"),
        sweep_version=cfg("live", "legacysurvey", "sweep_version"),
        regions=cfg("live", "legacysurvey", "regions"),
    )
    if ARCHIVE == "live"
    else dict(regions=["north", "south"])
)
ACQUIRE = dict(archive=ARCHIVE, seed=cfg("seed"), **ACQUIRE_LIVE)
# How politely to download: never changes a result (valid files are byte-identical),
# but scripts take every setting through params.
DOWNLOAD = cfg("download")

if IMAGE_METHODS & set(METHODS):  # cutouts only for the methods that read images
    STAGE_TARGETS.append(lambda: shard_paths(f"{RAW}/cutouts/{{shard}}.parquet"))


rule fetch_mpajhu:
    input:
        mock=mock_archive_marker(),
    output:
        f"{RAW}/mpajhu.parquet",
    params:
        **ACQUIRE,
        sn_median_r_min=cfg("galaxies", "crossmatch", "sn_median_r_min"),
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_mpajhu.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_mpajhu.tsv"
    conda:
        "../../envs/data.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/fetch_mpajhu.py"


rule fetch_dr9_sweeps:
    input:
        mpajhu=f"{RAW}/mpajhu.parquet",
        mock=mock_archive_marker(),
    output:
        f"{RAW}/dr9_sweeps.txt",
    params:
        **ACQUIRE,
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_dr9_sweeps.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_dr9_sweeps.tsv"
    conda:
        "../../envs/data.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/fetch_dr9_sweeps.py"


rule fetch_cutouts:
    input:
        shard=paths.CATALOG_SHARD,
        mock=mock_archive_marker(),
    output:
        f"{RAW}/cutouts/{{shard}}.parquet",
    params:
        **ACQUIRE,
        cutout=cfg("galaxies", "cutout"),
        # Rendering mock cutouts is CPU work (one per thread); live downloads wait on I/O.
        concurrency=lambda wildcards, threads: (
            threads if ARCHIVE == "mock" else DOWNLOAD["concurrency"]
        ),
        download=DOWNLOAD,
    threads: job_threads(2)
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_cutouts/{{shard}}.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_cutouts/{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/fetch_cutouts.py"
