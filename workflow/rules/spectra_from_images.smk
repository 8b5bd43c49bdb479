# Spectra from images (seed 003, Wu & Peek 2020): the 6-d VAE latent of the SDSS
# spectrum from PS1 grizy cutouts. The data contract's files (SFI_TABLE, SFI_IMAGES,
# SFI_SPECTRA, SFI_TRUTH, rule sfi_sample) feed the spectrum VAE and its latent targets
# here; the five image networks train, predict and are scored by the generic rules of
# train.smk (and the mean-latent baseline by rule baseline); this file adds the Table-1
# summary, the decoded spectra and their figures.

include: "spectra_from_images_inputs.smk"


rule sfi_vae:
    input:
        **sfi_data(),
    output:
        **sfi.VAE,
    params:
        settings=SFI_VAE,
        seed=cfg("seed"),
    threads: job_threads(SFI_VAE.get("threads", 2))
    resources:
        gpu=SFI_VAE.get("gpu", 0),
        mem_mb=SFI_VAE.get("mem_mb", 4000),
        runtime=SFI_VAE.get("runtime", 60),
    retries: 2
    log:
        "logs/spectra_from_images/vae.log",
    benchmark:
        "benchmarks/spectra_from_images/vae.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sfi_vae.py"


rule sfi_latents:
    input:
        **sfi_data(),
        encoder=sfi.VAE["encoder"],
        normalisation=sfi.VAE["normalisation"],
    output:
        targets=sfi.LATENTS,
        transform=sfi.LATENT_TRANSFORM,
    log:
        "logs/spectra_from_images/latents.log",
    benchmark:
        "benchmarks/spectra_from_images/latents.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sfi_latents.py"


rule sfi_table1:
    input:
        unpack(sfi_table1_inputs),
    output:
        report_table(
            SFI_OUT["table1"],
            caption="../report/sfi_table1.rst",
            category="spectra_from_images",
            subcategory="summary",
            labels={"table": "Table 1: validation latent MSE of every image network"},
        ),
    params:
        spec=sfi_table1_spec(),
        report_epochs=SFI_EVALUATION.get("report_epochs", []),
    log:
        "logs/spectra_from_images/table1.log",
    benchmark:
        "benchmarks/spectra_from_images/table1.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sfi_table1.py"


rule sfi_decode:
    input:
        unpack(sfi_decode_inputs),
    output:
        decoded=SFI_DECODED,
        errors=report_table(
            SFI_OUT["decoded_errors"],
            caption="../report/sfi_decoded_errors.rst",
            category="spectra_from_images",
            subcategory="decoded spectra",
            labels={"table": "errors of the decoded spectra (observed and noiseless truth)"},
        ),
    params:
        names=list(SFI_EXPERIMENTS),
        n_examples=SFI_EVALUATION.get("decoded_examples", 8),
        seed=cfg("seed"),
    log:
        "logs/spectra_from_images/decode.log",
    benchmark:
        "benchmarks/spectra_from_images/decode.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sfi_decode.py"


rule sfi_figures:
    input:
        decoded=SFI_DECODED,
        table1=SFI_OUT["table1"],
        vae_history=sfi.VAE["history"],
    output:
        decoded_spectra=report(
            SFI_OUT["decoded_spectra"],
            caption="../report/sfi_decoded_spectra.rst",
            category="spectra_from_images",
            subcategory="decoded spectra",
            labels={"figure": "decoded target and prediction over the observed spectrum"},
        ),
        pixel_errors=report(
            SFI_OUT["pixel_errors"],
            caption="../report/sfi_pixel_errors.rst",
            category="spectra_from_images",
            subcategory="decoded spectra",
            labels={"figure": "per-pixel error against the observed spectra"},
        ),
        line_zooms=report(
            SFI_OUT["line_zooms"],
            caption="../report/sfi_line_zooms.rst",
            category="spectra_from_images",
            subcategory="decoded spectra",
            labels={"figure": "H-alpha, [O III] and D4000 zooms"},
        ),
        truth_errors=report(
            SFI_OUT["truth_errors"],
            caption="../report/sfi_truth_errors.rst",
            category="spectra_from_images",
            subcategory="decoded spectra",
            labels={"figure": "per-pixel error against the noiseless truth"},
        ),
        vae_reconstruction=report(
            SFI_OUT["vae_reconstruction"],
            caption="../report/sfi_vae.rst",
            category="spectra_from_images",
            subcategory="summary",
            labels={"figure": "spectrum VAE training curves"},
        ),
    log:
        "logs/spectra_from_images/figures.log",
    benchmark:
        "benchmarks/spectra_from_images/figures.tsv"
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/sfi_figures.py"
