"""Snakemake adapter: Stage 3 reject counts and steps figure (galstar.imaging.summary)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.imaging.pipeline import PreprocessConfig
    from galstar.imaging.summary import write_reject_counts, write_steps_figure

    write_reject_counts(list(snakemake.input.tables), snakemake.output.counts)  # noqa: F821
    write_steps_figure(
        list(snakemake.input.manifests),  # noqa: F821
        PreprocessConfig.from_mapping(snakemake.params.preprocess),  # noqa: F821
        snakemake.output.figure,  # noqa: F821
        n_objects=snakemake.params.n_objects,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
    )
