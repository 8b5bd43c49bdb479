"""Snakemake adapter: Stage 3 band/resolution variant (galstar.imaging.stage.run_variant)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.stage import run_variant

    run_variant(
        snakemake.input[0],  # noqa: F821
        snakemake.output[0],  # noqa: F821
        snakemake.params.bands,  # noqa: F821
        snakemake.params.resolution,  # noqa: F821
    )
