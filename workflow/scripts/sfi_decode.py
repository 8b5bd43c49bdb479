"""Snakemake adapter: decode the validation galaxies' targets and predictions."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.training.backend import start_backend

    start_backend(snakemake.threads)  # noqa: F821  (before Keras is imported)
    from galstar.methods.spectra_from_images_decode import decode_validation

    inputs, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    decode_validation(tables=list(inputs.tables), spectra=list(inputs.spectra),
                      truths=list(inputs.truths), grid=inputs.grid, targets=inputs.targets,
                      transform=inputs.transform, decoder=inputs.decoder,
                      predictions=dict(zip(params.names, inputs.predictions, strict=True)),
                      n_examples=params.n_examples, seed=params.seed,
                      decoded_path=out.decoded, errors_path=out.errors)
