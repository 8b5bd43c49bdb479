"""Snakemake adapter: the decoded-spectra and VAE figures of spectra_from_images."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    import pandas as pd

    from galstar.methods import spectra_from_images_figures as fig

    inputs, out = snakemake.input, snakemake.output  # noqa: F821
    decoded = fig.load_decoded(inputs.decoded)
    best = fig.best_model(pd.read_csv(inputs.table1))
    fig.plot_decoded_spectra(decoded, best, out.decoded_spectra)
    fig.plot_pixel_errors(decoded, out.pixel_errors)
    fig.plot_line_zooms(decoded, best, out.line_zooms)
    fig.plot_truth_errors(decoded, out.truth_errors)
    fig.plot_vae_history(pd.read_csv(inputs.vae_history), out.vae_reconstruction)
