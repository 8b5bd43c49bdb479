"""Snakemake adapter: a spectrum list validated and fetched, in the stellar fetch rule's
file-table format (galstar.inference.spectra.write_spectrum_table)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: errors go to the log)
    from galstar.inference.spectra import write_spectrum_table

    p, out = snakemake.params, snakemake.output  # noqa: F821
    write_spectrum_table(snakemake.input.targets, out.table, out.spectra,  # noqa: F821
                         arms=p.arms, cache_dir=p.cache_dir, download=p.download, seed=p.seed)
