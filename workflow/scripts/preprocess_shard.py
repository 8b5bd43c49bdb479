"""Snakemake adapter: Stage 3, one shard (galstar.imaging.stage.run_preprocess_shard)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.stage import run_preprocess_shard

    run_preprocess_shard(
        snakemake.input.manifest,  # noqa: F821
        snakemake.input.catalog,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        snakemake.output.images,  # noqa: F821
        snakemake.params.preprocess,  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        neighbours_path=snakemake.input.get("neighbours") or None,  # noqa: F821
    )
