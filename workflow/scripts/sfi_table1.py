"""Snakemake adapter: the Table-1 summary of spectra_from_images."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.io import atomic_path
    from galstar.methods.spectra_from_images_tables import table1

    params = snakemake.params  # noqa: F821
    table = table1(params.spec, snakemake.input.baseline, params.report_epochs)  # noqa: F821
    with atomic_path(snakemake.output[0]) as tmp:  # noqa: F821
        table.to_csv(tmp, index=False)
