"""Run the real galstar workflow from a private copy, so tests never write into the repo.

The copy holds only what Snakemake reads (Snakefile, workflow/, config/, profiles/, envs/); the
scripts import the installed ``galstar`` package. Each test gets its own working
directory, hence its own ``.snakemake`` metadata, ``resources/`` and ``results/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "profiles", "envs")


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow definition into ``dest`` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``snakemake ARGS`` in ``workdir``; on failure raise with its output."""
    proc = subprocess.run(
        [SNAKEMAKE, *args], cwd=workdir, env=env or os.environ.copy(),
        capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


@dataclass
class PlannedJob:
    rule: str
    input: list[str]
    output: list[str]
    resources: dict[str, str]
    reason: str = ""


_FIELD = re.compile(r"^\s+(input|output|resources|reason): (.*)$")


def planned_jobs(dry_run_log: str) -> list[PlannedJob]:
    """The jobs of a ``snakemake -n`` log (its per-job ``rule X:`` blocks), in log order."""
    jobs: list[PlannedJob] = []
    current: PlannedJob | None = None
    for line in dry_run_log.splitlines():
        head = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if head:
            current = PlannedJob(head.group(1), [], [], {})
            jobs.append(current)
            continue
        field = _FIELD.match(line)
        if current is None or not field:
            continue
        key, value = field.groups()
        if key == "reason":
            current.reason = value
        elif key == "resources":
            current.resources = dict(
                item.split("=", 1) for item in value.split(", ") if "=" in item
            )
        else:
            setattr(current, key, value.split(", "))
    return jobs


def job_counts(dry_run_log: str) -> dict[str, int]:
    """The ``Job stats`` table of a dry run: rule -> number of jobs (with ``total``)."""
    counts: dict[str, int] = {}
    in_table = False
    for line in dry_run_log.splitlines():
        if line.startswith("Job stats:"):
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
                if parts[0] == "total":
                    break
    return counts


def plan(workdir: Path, *args: str, env: dict[str, str] | None = None) -> list[PlannedJob]:
    """The jobs ``snakemake -n ARGS`` would run (rule ``all`` included)."""
    proc = snakemake(workdir, "-n", *args, env=env)
    return planned_jobs(proc.stdout + proc.stderr)


def mark_complete(workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Make the workdir look fully run without running anything.

    Every planned output is created empty, then ``snakemake --touch`` records the
    metadata (params, code, inputs) a real run would, so that later dry runs judge reruns
    exactly as after a real run.
    """
    for job in plan(workdir, "--forceall", *args, env=env):
        for path in job.output:
            target = workdir / path
            # galstar's files all have an extension (docs/contracts.md); the dry run does
            # not mark directory() outputs, and those are the extension-less ones.
            if target.suffix:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
    snakemake(workdir, "--touch", "--forceall", "--cores", "1", "--quiet", *args, env=env)


def is_local_rule(name: str) -> bool:
    """Whether rule ``name`` runs on the submitting host by design: ``all`` gathers inputs,
    the run summary and the tables' report pages (``table_html_*``) are cheap renderings
    (``localrule: True`` in report.smk)."""
    return name in ("all", "run_summary") or name.startswith("table_html_")


def cluster_jobs(dry_run_log: str, local: set[str] | None = None) -> int:
    """How many jobs a dry run would submit to a cluster: ungrouped jobs of rules not in
    ``local`` (default: :func:`is_local_rule`; a dry run prints local rules as ``rule``,
    a real run as ``localrule``) plus one per group job (a group job's members are
    indented under its header)."""
    lines = dry_run_log.splitlines()
    local_rule = is_local_rule if local is None else local.__contains__
    singles = sum(1 for line in lines
                  if (m := re.match(r"^rule (\w+):$", line)) and not local_rule(m.group(1)))
    groups = sum(1 for line in lines if re.search(r"\] Group job \S+ \(jobs in", line)
                 or line.startswith("Group job "))
    return singles + groups
