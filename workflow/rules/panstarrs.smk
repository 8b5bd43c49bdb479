# Pan-STARRS1 grizy cutouts and rest-frame SDSS spectra of the shared galaxy sample (the
# spectra_from_images method's data; docs/contracts.md): the mock's PS1 cutouts (Stage 0,
# apart from the other mock products), per-shard acquisition (mock or live, Stage 1) and
# image preprocessing, the rest-frame spectra per shard and their gap filler (fitted on
# the training split of every shard), joined per shard into paths.SFI_* by sfi_sample.
# Requested only when spectra_from_images is in `methods:`.

include: "panstarrs_inputs.smk"


rule simulate_ps1_images:
    input:
        galspec=f"{MOCK_ROOT}/skyserver/galSpec.fits",
        archive=f"{MOCK_ROOT}/manifest.json",
    output:
        # ps1/manifest.json is written last inside it (the completion marker)
        directory(f"{MOCK_ROOT}/ps1"),
    params:
        options=SFI_MOCK_PS1,
    log:
        "logs/mock/simulate_ps1_images.log",
    benchmark:
        "benchmarks/mock/simulate_ps1_images.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/simulate_ps1_images.py"


rule fetch_ps1:
    input:
        shard=paths.CATALOG_SHARD,
        mock=ps1_mock(),
    output:
        PANSTARRS_RAW,
    params:
        archive=ARCHIVE,
        seed=cfg("seed"),
        size=SFI_SIZE,
        **PS1_LIVE,
        download=DOWNLOAD,
    retries: 3
    resources:
        archive_http=1,
    log:
        f"logs/acquire/{ARCHIVE}/fetch_ps1/{{shard}}.log",
    benchmark:
        f"benchmarks/acquire/{ARCHIVE}/fetch_ps1/{{shard}}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/fetch_ps1.py"


rule sfi_images:
    input:
        PANSTARRS_RAW,
    output:
        table=paths.SFI_IMAGE_TABLE,
        stack=paths.SFI_IMAGE_STACK,
    params:
        panstarrs=SFI_PANSTARRS,
    log:
        "logs/spectra_from_images/images/{shard}.log",
    benchmark:
        "benchmarks/spectra_from_images/images/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sfi_images.py"


rule sfi_restframe:
    input:
        manifest=SDSS_RAW["spectra"],
        truth=f"{MOCK_ROOT}/truth/sdss_spectra.parquet" if ARCHIVE == "mock" else [],
    output:
        table=paths.SFI_RESTFRAME_TABLE,
        tensor=paths.SFI_RESTFRAME,
    params:
        restframe=SFI_RESTFRAME,
        archive=ARCHIVE,
    log:
        "logs/spectra_from_images/restframe/{shard}.log",
    benchmark:
        "benchmarks/spectra_from_images/restframe/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sfi_restframe.py"


rule sfi_pca:
    input:
        catalog=shard_paths(paths.CATALOG_SHARD),
        tables=shard_paths(paths.SFI_RESTFRAME_TABLE),
        tensors=shard_paths(paths.SFI_RESTFRAME),
    output:
        pca=paths.SFI_PCA,
        grid=paths.SFI_GRID,
    params:
        restframe=SFI_RESTFRAME,
        seed=cfg("seed"),
    log:
        "logs/spectra_from_images/pca.log",
    benchmark:
        "benchmarks/spectra_from_images/pca.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sfi_pca.py"


rule sfi_sample:
    input:
        catalog=paths.CATALOG_SHARD,
        image_table=paths.SFI_IMAGE_TABLE,
        image_stack=paths.SFI_IMAGE_STACK,
        spectra_table=paths.SFI_RESTFRAME_TABLE,
        spectra_tensor=paths.SFI_RESTFRAME,
        pca=paths.SFI_PCA,
    output:
        table=paths.SFI_TABLE,
        images=paths.SFI_IMAGES,
        spectra=paths.SFI_SPECTRA,
        truth=paths.SFI_TRUTH,
        rejects=paths.SFI_REJECTS,
    log:
        "logs/spectra_from_images/sample/{shard}.log",
    benchmark:
        "benchmarks/spectra_from_images/sample/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sfi_sample.py"


rule sfi_summary:
    input:
        tables=shard_paths(paths.SFI_TABLE),
        rejects=shard_paths(paths.SFI_REJECTS),
    output:
        report_table(
            paths.SFI_REJECT_COUNTS,
            caption="../report/sfi_reject_counts.rst",
            category="spectra_from_images",
            labels={"table": "objects kept and rejected, by first reason"},
        ),
    log:
        "logs/spectra_from_images/summary.log",
    benchmark:
        "benchmarks/spectra_from_images/summary.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/sfi_summary.py"
