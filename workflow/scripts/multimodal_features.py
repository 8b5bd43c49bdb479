"""Snakemake adapter: image or spectrum features of every kept SDSS object (multimodal)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.io import write_parquet
    from galstar.methods.multimodal_features import feature_table

    inputs = snakemake.input  # noqa: F821
    table = feature_table(inputs.tables, inputs.tensors, snakemake.wildcards.modality,  # noqa: F821
                          snakemake.params.settings,  # noqa: F821
                          grid_path=inputs.get("grid"))
    write_parquet(table, snakemake.output[0])  # noqa: F821
    logging.info("%d objects, %d columns", len(table), table.shape[1])
