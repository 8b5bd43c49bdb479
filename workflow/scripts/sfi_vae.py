"""Snakemake adapter: train the spectrum VAE of spectra_from_images."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.methods.spectra_from_images_vae import train_vae

    inputs = snakemake.input  # noqa: F821
    train_vae(list(inputs.tables), list(inputs.spectra), snakemake.params.settings,  # noqa: F821
              seed=snakemake.params.seed,  # noqa: F821
              outputs=dict(snakemake.output.items()))  # noqa: F821
