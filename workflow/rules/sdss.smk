# SDSS spectra and ugriz images of the shared galaxy sample (the multimodal method's inputs;
# docs/contracts.md, "SDSS products"): the mock's SDSS products (Stage 0, apart from the
# DESI mock so that chain never waits on them), per-shard acquisition (Stage 1) and
# preprocessing (spectra and images in separate rules: a spectrum-grid change reruns the
# spectrum side only), joined per shard into paths.SDSS_TABLE.

# Methods that read the SDSS products.
SDSS_METHODS = {"multimodal"}
SDSS_SPECTRA = cfg("galaxies", "sdss", "spectra")
SDSS_IMAGES = cfg("galaxies", "sdss", "images")
# The mock's SDSS options: the image count and size rerun the images only.
SDSS_MOCK = config["mock"].get("sdss") or {}
SDSS_MOCK_SPECTRA = {k: v for k, v in SDSS_MOCK.items() if k != "n_images"}
SDSS_MOCK_IMAGES = dict(n_images=SDSS_MOCK.get("n_images"), image_size=SDSS_IMAGES["size"])
# Where SDSS bytes come from when live (a mock run depends on none of them).
SDSS_LIVE = (
    dict(
        sas_url=cfg("live", "sdss_sas", "url"),
        release=cfg("live", "sdss_sas", "release"),
        data_release=cfg("live", "sdss_sas", "data_release"),
        dr7_url=cfg("live", "mpajhu_dr7", "url"),
        dr7_names=cfg("live", "mpajhu_dr7", "names"),
    )
    if ARCHIVE == "live"
    else {}
)


if SDSS_METHODS & set(METHODS):
    STAGE_TARGETS.append(sdss_stage_targets)


rule simulate_sdss_spectra:
    input:
        galspec=f"{MOCK_ROOT}/skyserver/galSpec.fits",
        archive=f"{MOCK_ROOT}/manifest.json",
    output:
        # the manifest is written last: acquisition uses it as the completion marker
        manifest=SDSS_MOCK_DONE["spectra"],
        sas=directory(f"{MOCK_ROOT}/sas"),
        dr7=directory(f"{MOCK_ROOT}/mpa"),
        truth=f"{MOCK_ROOT}/truth/sdss_spectra.parquet",
    params:
        options=SDSS_MOCK_SPECTRA,
    log:
        "logs/mock/simulate_sdss_spectra.log",
    benchmark:
        "benchmarks/mock/simulate_sdss_spectra.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/simulate_sdss_spectra.py"


rule simulate_sdss_images:
    input:
        galspec=f"{MOCK_ROOT}/skyserver/galSpec.fits",
        archive=f"{MOCK_ROOT}/manifest.json",
    output:
        directory(SDSS_MOCK_DONE["images"]),
    params:
        options=SDSS_MOCK_IMAGES,
    log:
        "logs/mock/simulate_sdss_images.log",
    benchmark:
        "benchmarks/mock/simulate_sdss_images.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/simulate_sdss_images.py"


rule fetch_mpajhu_dr7:
    input:
        mock=sdss_mock("spectra"),
    output:
        SDSS_RAW["dr7"],
    params:
        archive=ARCHIVE,
        seed=cfg("seed"),
        **SDSS_LIVE,
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_mpajhu_dr7.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_mpajhu_dr7.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/fetch_mpajhu_dr7.py"


rule fetch_sdss_spectra:
    input:
        shard=paths.CATALOG_SHARD,
        mock=sdss_mock("spectra"),
    output:
        SDSS_RAW["spectra"],
    params:
        archive=ARCHIVE,
        seed=cfg("seed"),
        **SDSS_LIVE,
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_sdss_spectra/{{shard}}.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_sdss_spectra/{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/fetch_sdss_spectra.py"


rule fetch_sdss_images:
    input:
        shard=paths.CATALOG_SHARD,
        mock=sdss_mock("images"),
    output:
        SDSS_RAW["images"],
    params:
        archive=ARCHIVE,
        seed=cfg("seed"),
        **SDSS_LIVE,
        size=SDSS_IMAGES["size"],
        pixscale=SDSS_IMAGES["pixscale"],
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_sdss_images/{{shard}}.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_sdss_images/{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/fetch_sdss_images.py"


rule sdss_targets:
    input:
        catalog=paths.CATALOG_SHARD,
        dr7=SDSS_RAW["dr7"],
    output:
        paths.SDSS_TARGETS,
    log:
        "logs/sdss/targets/{shard}.log",
    benchmark:
        "benchmarks/sdss/targets/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/sdss_targets.py"


rule sdss_spectra:
    input:
        SDSS_RAW["spectra"],
    output:
        table=paths.SDSS_SPECTRA_TABLE,
        tensor=paths.SDSS_SPECTRA_TENSOR,
    params:
        spectra=SDSS_SPECTRA,
    log:
        "logs/sdss/spectra/{shard}.log",
    benchmark:
        "benchmarks/sdss/spectra/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/sdss_spectra.py"


rule sdss_spectra_grid:
    output:
        paths.SDSS_SPECTRA_GRID,
    params:
        spectra=SDSS_SPECTRA,
    log:
        "logs/sdss/spectra_grid.log",
    benchmark:
        "benchmarks/sdss/spectra_grid.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sdss_spectra_grid.py"


rule sdss_images:
    input:
        SDSS_RAW["images"],
    output:
        table=paths.SDSS_IMAGE_TABLE,
        tensor=paths.SDSS_IMAGE_TENSOR,
    params:
        images=SDSS_IMAGES,
    log:
        "logs/sdss/images/{shard}.log",
    benchmark:
        "benchmarks/sdss/images/{shard}.tsv"
    conda:
        "../../envs/images.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/sdss_images.py"


rule sdss_table:
    input:
        targets=paths.SDSS_TARGETS,
        spectra=paths.SDSS_SPECTRA_TABLE,
        images=paths.SDSS_IMAGE_TABLE,
    output:
        paths.SDSS_TABLE,
    log:
        "logs/sdss/table/{shard}.log",
    benchmark:
        "benchmarks/sdss/table/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/sdss_table.py"


# The same without the spectra: image-only models read it, so that a spectrum setting
# (grid, gridding) leaves them alone.
rule sdss_image_sample:
    input:
        targets=paths.SDSS_TARGETS,
        images=paths.SDSS_IMAGE_TABLE,
    output:
        paths.SDSS_IMAGE_SAMPLE,
    log:
        "logs/sdss/image_sample/{shard}.log",
    benchmark:
        "benchmarks/sdss/image_sample/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    priority: SDSS_CHAIN_PRIORITY
    script:
        "../scripts/sdss_table.py"


rule sdss_summary:
    input:
        shard_paths(paths.SDSS_TABLE),
    output:
        report_table(
            paths.SDSS_REJECT_COUNTS,
            caption="../report/sdss_reject_counts.rst",
            category="SDSS spectra and images",
            labels={"table": "objects kept and rejected, by first reason"},
        ),
    log:
        "logs/sdss/summary.log",
    benchmark:
        "benchmarks/sdss/summary.tsv"
    # galstar.imaging.summary imports the imaging chain (OpenCV, photutils)
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/sdss_summary.py"
