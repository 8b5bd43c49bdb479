"""Snakemake adapter: predictions of a packaged model for the prepared targets, written
as one Parquet and one FITS table (galstar.inference.run)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.inference import run

    p, inputs, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    common = dict(model_dir=p.model_dir, preprocessing=p.preprocessing,
                  outputs={"parquet": out.parquet, "fits": out.fits},
                  targets_file=p.targets_file)
    if p.kind == "galaxies":
        run.predict_galaxy_targets(inputs.table, list(inputs.tables), list(inputs.images),
                                   **common)
    elif p.kind == "features":
        run.predict_feature_targets(inputs.table, list(inputs.catalogs), **common)
    else:
        observed = {arm: (inputs[f"{arm}_table"], inputs[f"{arm}_array"]) for arm in p.arms}
        run.predict_stellar_targets(inputs.table, observed, **common)
