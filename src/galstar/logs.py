"""Logging of the workflow scripts: each job's records, failure and summary in its rule's log.

Every ``workflow/scripts/*.py`` runs its body inside :func:`rule_log`, so that the file
Snakemake names after a failure ("check log file(s) for error details") holds the
traceback, and a finished job's log ends with what it wrote (rows, shapes, sizes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LOG_FORMAT", "log_to_file", "rule_log", "describe_output"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

log = logging.getLogger("galstar.job")


def log_to_file(path: str | os.PathLike, level: int = logging.INFO) -> None:
    """Send every logger's records (and Python warnings) to ``path``, replacing any
    handler set up before (a library that configured logging first must not leave the
    job's log empty)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=os.fspath(path), level=level, format=LOG_FORMAT, force=True)
    logging.captureWarnings(True)


def describe_output(path: str | os.PathLike) -> str:
    """One summary of an output file: rows of a Parquet table, shape of a ``.npy``
    tensor, lines of a CSV, files under a directory, else its size in bytes."""
    p = Path(path)
    try:
        if p.is_dir():
            return f"{p}: {sum(1 for f in p.rglob('*') if f.is_file())} files"
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            return f"{p}: {pq.read_metadata(p).num_rows} rows"
        if p.suffix == ".npy":
            import numpy as np

            shape = np.load(p, mmap_mode="r", allow_pickle=False).shape
            return f"{p}: shape {shape}"
        if p.suffix == ".csv":
            with p.open("rb") as f:
                return f"{p}: {max(sum(1 for _ in f) - 1, 0)} rows"
        return f"{p}: {p.stat().st_size} bytes"
    except (OSError, ValueError) as err:  # a summary never fails the job
        return f"{p}: unreadable ({err})"


def _paths(files: Any) -> Sequence[str]:
    return [os.fspath(f) for f in (files or [])]


@contextlib.contextmanager
def rule_log(smk: Any, level: int = logging.INFO) -> Iterator[logging.Logger]:
    """Run a workflow script's body with its rule's log set up.

    Parameters
    ----------
    smk : snakemake.script.Snakemake
        The script's ``snakemake`` object (``log``, ``rule``, ``wildcards``, ``output``).
    level : int
        Lowest level written to the log.

    Yields
    ------
    logging.Logger
        A logger for the script's own summary lines.

    Notes
    -----
    The log receives every logger's records and Python warnings; at the end, one line
    per output (rows, shape or size) and the wall time; on an exception, its traceback
    before it propagates (Snakemake then reports the job as failed, and the terminal
    shows the traceback too).
    """
    logs = _paths(getattr(smk, "log", None))
    if logs:
        log_to_file(logs[0], level)
    rule = getattr(smk, "rule", "?")
    wildcards = dict(getattr(smk, "wildcards", {}).items()) if hasattr(smk, "wildcards") else {}
    job = f"{rule} {wildcards}" if wildcards else str(rule)
    log.info("job %s started (pid %d)", job, os.getpid())
    started = time.perf_counter()
    try:
        yield log
    except Exception:
        if logs:
            log.exception("job %s failed after %.1f s", job, time.perf_counter() - started)
            print(f"galstar: the traceback is also in {logs[0]}", file=sys.stderr)
        logging.shutdown()
        raise
    for path in _paths(getattr(smk, "output", None)):
        log.info("output %s", describe_output(path))
    log.info("job %s done in %.1f s", job, time.perf_counter() - started)
    logging.shutdown()
