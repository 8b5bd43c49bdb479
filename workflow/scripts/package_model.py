"""Snakemake adapter: package a trained experiment as a portable model directory
(galstar.inference.package)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from pathlib import Path

    from galstar.inference.package import package_model
    from galstar.provenance import code_version

    p, inputs = snakemake.params, snakemake.input  # noqa: F821
    package_model(
        snakemake.wildcards.method,  # noqa: F821
        {k: list(v) for k, v in inputs.items()
         if k not in ("model", "scaler", "history", "config", "metrics", "calibration")},
        p.experiment,
        model_dir=Path(inputs.model).parent,
        metrics_path=inputs.metrics,
        calibration_path=inputs.calibration,
        evaluated_as=p.evaluated_as,
        preprocessing=p.preprocessing,
        inference=p.inference,
        archive=p.archive,
        code_version=code_version(snakemake.scriptdir),  # noqa: F821
    )
