"""Changing ``galaxies.crossmatch.radius_arcsec`` reruns the cross-match and what depends
on it, and nothing upstream (Snakemake's params rerun trigger).

The check runs the repository's Snakefile in a temporary copy with a results tree made
up to date by ``snakemake --touch`` (every planned output is created empty, then touched
in DAG order so Snakemake records its provenance); only dry runs follow, so neither the
mock archive nor any real output is built.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
COPY = ["Snakefile", "workflow", "config", "envs"]
# Stage 1 files the cross-match reads, and the mock archive's completion marker
UPSTREAM_FILES = ("/mpajhu.parquet", "/dr9_sweeps.txt", "/galSpec.fits")


def smk(workdir: Path, *args: str) -> str:
    """Run snakemake in ``workdir``; return stdout + stderr, failing the test on error."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "1", *args], cwd=workdir, capture_output=True, text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{out[-4000:]}"
    return out


def job_stats(output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run ({} if nothing to do)."""
    if "Nothing to be done" in output:
        return {}
    block = output.split("Job stats:", 1)[1]
    stats = {}
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        stats[m.group(1)] = int(m.group(2))
    return stats


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory, repo: Path) -> tuple[Path, set[str]]:
    """A copy of the workflow with a complete, up-to-date (empty-file) results tree."""
    work = tmp_path_factory.mktemp("rerun")
    for name in COPY:
        src = repo / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    # Files no rule makes (rule inputs from outside the DAG) are created empty, as
    # Snakemake names them, until the DAG resolves; then every planned output is made.
    for _ in range(50):
        proc = subprocess.run([*SNAKEMAKE, "--summary"], cwd=work, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode == 0:
            break
        err = proc.stdout + proc.stderr
        missing = re.findall(r"affected files:\n((?:\s{8,}\S+\n?)+)", err)
        assert missing, f"snakemake --summary failed:\n{err[-4000:]}"
        for path in (p.strip() for block in missing for p in block.splitlines()):
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).touch()
    summary = proc.stdout
    assert "results/galaxies/catalog/crossmatch.parquet" in summary
    for line in summary.splitlines():
        fields = line.split("\t")
        if len(fields) >= 5 and fields[0] != "output_file":
            path = work / fields[0]
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:  # a directory() output (every file output here has an extension)
                path.mkdir(parents=True, exist_ok=True)
    # --forceall: record provenance (params) for every job, not only the stale ones
    smk(work, "--touch", "--forceall")
    assert job_stats(smk(work, "-n")) == {}, "the prepared tree is not up to date"
    # the rules making what the cross-match reads (and the mock archive before them)
    upstream = {
        fields[2]
        for fields in (ln.split("\t") for ln in summary.splitlines())
        if len(fields) >= 5 and fields[0].endswith(UPSTREAM_FILES)
    }
    assert upstream, "no rule makes the cross-match inputs"
    return work, upstream


def test_radius_change_reruns_crossmatch_and_descendants_only(workflow_copy):
    work, upstream = workflow_copy
    # what forcing the cross-match would rerun: the rule and everything downstream
    downstream = job_stats(smk(work, "-n", "--forcerun", "crossmatch"))
    assert downstream.get("crossmatch") == 1

    override = work / "radius.yaml"
    override.write_text("galaxies:\n  crossmatch:\n    radius_arcsec: 2.0\n")
    conf = ["--configfile", "config/config.yaml", str(override)]

    def params_changed(*args: str) -> set[str]:
        out = smk(work, "-n", "--list-changes", "params", *args)
        return {ln.strip() for ln in out.splitlines() if ln.startswith(("results/", "resources/"))}

    listed = params_changed(*conf)
    catalog = "results/galaxies/catalog"
    assert {f"{catalog}/crossmatch.parquet", f"{catalog}/cutflow.csv",
            f"{catalog}/rejects.parquet", f"{catalog}/separation.png"} <= listed
    # --list-changes also reports some files of touched multi-output jobs when nothing
    # changed; what the override adds must all be the cross-match's own outputs, or the
    # model packages, whose preprocessing record holds the cross-match settings
    added = listed - params_changed()
    package = re.compile(r"results/\w+/models/[\w.-]+/(model\.json|preprocessing\.yaml|"
                         r"calibration\.json|metrics\.csv|training_sample\.parquet|"
                         r"model_card\.md)$")
    other = sorted(f for f in added
                   if not f.startswith("results/galaxies/catalog/") and not package.match(f))
    assert added and not other, other

    planned = job_stats(smk(work, "-n", *conf))
    assert planned == downstream
    assert not upstream & set(planned), f"upstream rules rerun: {upstream & set(planned)}"


def test_unrelated_change_does_not_rerun_crossmatch(workflow_copy):
    work, _ = workflow_copy
    override = work / "preprocess.yaml"
    override.write_text("galaxies:\n  preprocess:\n    ellipse_scale: 1.4\n")
    planned = job_stats(smk(work, "-n", "--configfile", "config/config.yaml", str(override)))
    assert "crossmatch" not in planned
