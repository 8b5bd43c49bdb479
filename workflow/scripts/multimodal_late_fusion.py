"""Snakemake adapter: late fusion, a stacking combiner fitted on the validation split."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    import logging

    from galstar.io import read_parquet, write_parquet
    from galstar.methods.multimodal import TARGETS
    from galstar.methods.multimodal_stacking import fit_stacking, write_fit

    spec = snakemake.params.spec  # noqa: F821
    members = {name: read_parquet(path)
               for name, path in zip(spec["members"], snakemake.input, strict=True)}  # noqa: F821
    predictions, fit = fit_stacking(members, TARGETS, spec, seed=snakemake.params.seed)  # noqa: F821
    write_parquet(predictions, snakemake.output.predictions)  # noqa: F821
    write_fit(fit, snakemake.output.fit)  # noqa: F821
    logging.info("alpha %s, own-target weights %s", fit["chosen"], fit["own_target_weights"])
