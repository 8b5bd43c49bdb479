"""Snakemake adapter: the image models' targets, the VAE's 6 standardised PCA latents."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.methods.spectra_from_images_vae import latent_targets

    inputs, out = snakemake.input, snakemake.output  # noqa: F821
    latent_targets(list(inputs.tables), list(inputs.spectra), encoder=inputs.encoder,
                   normalisation=inputs.normalisation, targets_path=out.targets,
                   transform_path=out.transform)
