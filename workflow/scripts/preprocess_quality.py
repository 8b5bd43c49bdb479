"""Snakemake adapter: Stage 3 quality against the mock truth (galstar.scoring.stage)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.scoring.stage import run_quality

    run_quality(
        list(snakemake.input.tables),  # noqa: F821
        list(snakemake.input.manifests),  # noqa: F821
        snakemake.params.mock_root,  # noqa: F821
        snakemake.params.preprocess,  # noqa: F821
        snakemake.output.quality,  # noqa: F821
        snakemake.output.scores,  # noqa: F821
        max_cutouts=snakemake.params.max_cutouts,  # noqa: F821
        seed=snakemake.params.seed,  # noqa: F821
        size=snakemake.params.cutout["size"],  # noqa: F821
        pixscale=snakemake.params.cutout["pixscale"],  # noqa: F821
        neighbour_paths=list(snakemake.input.neighbours),  # noqa: F821
    )
