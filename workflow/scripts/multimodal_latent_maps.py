"""Snakemake adapter: t-SNE and UMAP maps of the early-fusion latent space."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    import logging

    from galstar.io import write_parquet
    from galstar.methods.multimodal_figures import latent_embedding, plot_latent_maps

    inputs = snakemake.input  # noqa: F821
    files = {k: list(v) for k, v in inputs.items() if k not in ("model", "catalogs")}
    embedding = latent_embedding(files, snakemake.params.experiment, inputs.model,  # noqa: F821
                                 list(inputs.catalogs), snakemake.params.settings,  # noqa: F821
                                 seed=snakemake.params.seed)  # noqa: F821
    write_parquet(embedding, snakemake.output.embedding)  # noqa: F821
    plot_latent_maps(embedding, snakemake.output.figure)  # noqa: F821
    logging.info("%d objects mapped", len(embedding))
