"""Snakemake runs of the workflow below files a test wrote itself.

Every rule but the named upstream ones may run (``--allowed-rules``): the test's
synthetic files stand in for the upstream outputs, and the run exercises the rules below.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Set
from pathlib import Path

import yaml

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@functools.cache
def _rules(base: tuple[str, ...], env: tuple[tuple[str, str], ...],
           upstream: frozenset[str]) -> frozenset[str]:
    listed = subprocess.run([*base, "--list-rules"], capture_output=True, text=True,
                            env=dict(env), timeout=600, check=True)
    rules = frozenset(listed.stdout.split())
    assert upstream <= rules, sorted(upstream - rules)  # a renamed rule would slip through
    return rules


def run_below(repo: Path, workdir: Path, config: dict, upstream: Set[str], *args: str,
              timeout: int = 1200) -> subprocess.CompletedProcess:
    """Write ``config`` to ``workdir/config.yaml`` and run Snakemake there (2 cores) with
    every rule allowed but ``upstream``."""
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    base = [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile", str(cfg), "--directory",
            str(workdir)]
    rules = _rules(tuple(base), tuple(env.items()), frozenset(upstream))
    return subprocess.run([*base, "--allowed-rules", *sorted(rules - set(upstream)),
                           "--cores", "2", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def snakemake_below(repo: Path, workdir: Path, config: dict, upstream: Set[str], *args: str,
                    timeout: int = 1200) -> str:
    """:func:`run_below`, which must succeed; its stdout and stderr."""
    proc = run_below(repo, workdir, config, upstream, *args, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc.stdout + proc.stderr


def report_below(repo: Path, workdir: Path, config: dict, upstream: Set[str],
                 targets: list[str], own: str, timeout: int = 1200) -> str:
    """The HTML report (``workdir/report.html``) of a run below synthetic files; its text.

    The report walks the whole DAG, upstream stages included, whose report files the test
    did not make: each one Snakemake names missing gets a stand-in, never a file under
    ``own`` (the rules under test must have made theirs).
    """
    missing_file = re.compile(r"File (\S+) marked for report but does not exist")
    for _ in range(20):
        proc = run_below(repo, workdir, config, upstream, "--report", "report.html", *targets,
                         timeout=timeout)
        missing = missing_file.search(proc.stdout + proc.stderr)
        if proc.returncode == 0 or not missing:
            break
        assert not missing.group(1).startswith(own), missing.group(1)
        stand_in = workdir / missing.group(1)
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("upstream stand-in\n")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return (workdir / "report.html").read_text(errors="replace")
