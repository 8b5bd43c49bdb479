"""A rule that fails leaves its traceback in the log file Snakemake points the user to.

One real job on a private workflow copy: the cross-match, fed an MPA-JHU table that is
not Parquet (the only rule allowed to run, so nothing upstream is simulated).
"""

from __future__ import annotations

from slurm.workflow import copy_workflow, snakemake


def test_failing_rule_writes_its_traceback_to_its_log(tmp_path):
    workdir = copy_workflow(tmp_path)
    raw = workdir / "resources" / "mock"
    raw.mkdir(parents=True)
    (raw / "mpajhu.parquet").write_text("<html>not a table</html>\n")
    (raw / "dr9_sweeps.txt").write_text("")
    proc = snakemake(workdir, "results/galaxies/catalog/crossmatch.parquet", "--cores", "1",
                     "--allowed-rules", "crossmatch", check=False)
    assert proc.returncode != 0
    assert "logs/catalog/crossmatch.log" in proc.stdout + proc.stderr
    text = (workdir / "logs" / "catalog" / "crossmatch.log").read_text()
    assert "job crossmatch started" in text and "job crossmatch failed after" in text
    assert "Traceback (most recent call last)" in text
    assert "mpajhu.parquet" in text  # the error names the unreadable file
    assert "done in" not in text
