"""Snakemake adapter: every model's interval coverage in one table (methods compared)."""

from galstar.evaluation.calibration import summary_table
from galstar.evaluation.evaluate import write_csv
from galstar.logs import log_to_file

log_to_file(snakemake.log[0])  # noqa: F821
write_csv(summary_table(dict(snakemake.input.items())), snakemake.output[0])  # noqa: F821
