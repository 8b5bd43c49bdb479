"""Logging of the workflow scripts: each job's records, failure and summary in its rule's log.

Every ``workflow/scripts/*.py`` runs its body inside :func:`rule_log`, so that the file
Snakemake names after a failure ("check log file(s) for error details") holds the
traceback, and a finished job's log ends with what it wrote (rows, shapes, sizes).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LOG_FORMAT", "CPU_ONLY_NOISE", "log_to_file", "rule_log", "describe_output",
           "has_nvidia_gpu", "native_stderr_filter", "quiet_worker", "limit_threads",
           "THREAD_VARIABLES"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

#: What TensorFlow's CUDA build prints at every start on a machine without an NVIDIA
#: GPU, from C++ before TF_CPP_MIN_LOG_LEVEL applies: not news there (on a GPU node a
#: failed cuInit is, and nothing is dropped). The oneDNN notice comes at every start on
#: CPUs where TensorFlow enables oneDNN (x86 with AVX-512 and the like).
CPU_ONLY_NOISE = re.compile(
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit: .*UNKNOWN ERROR \(303\)"
    r"|port\.cc:\d+\] oneDNN custom operations are on\."
    r"|^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR")

log = logging.getLogger("galstar.job")


def has_nvidia_gpu() -> bool:
    """Whether this machine has an NVIDIA GPU (a device node or the driver's GPU list)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or bool(glob.glob("/proc/driver/nvidia/gpus/*"))


@contextlib.contextmanager
def native_stderr_filter(drop: re.Pattern[str]) -> Iterator[None]:
    """Drop the lines matching ``drop`` that anything (C++ libraries included) writes to
    file descriptor 2 inside the block; every other line passes through unchanged."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as src, os.fdopen(os.dup(saved), "wb", 0) as dst:
            for line in src:
                if not drop.search(line.decode("utf-8", "replace")):
                    dst.write(line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's write end: the pump reads to its end
        thread.join(timeout=10)
        os.close(saved)


def _exit_interrupted(signum: int, frame: Any) -> None:
    os._exit(128 + signum)


def quiet_worker() -> None:
    """Initializer of worker processes (``ProcessPoolExecutor(initializer=...)``): a
    Ctrl-C ends a worker without its traceback; the job's main process, which receives
    the same SIGINT, reports the interruption once (:func:`rule_log`)."""
    signal.signal(signal.SIGINT, _exit_interrupted)


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


#: Thread pools sized by environment: BLAS, OpenMP (scikit-learn, SciPy), numexpr.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_threads(threads: int | None) -> None:
    """Size the BLAS / OpenMP pools of the libraries imported from now on to ``threads``
    (a job's Snakemake threads), as Snakemake does for shell jobs but not for scripts;
    a variable the user set is kept. Without it every one-thread job runs pools as wide
    as the machine, and two of them on two cores spin against each other."""
    if threads:
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, str(int(threads)))


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
    shows the traceback too). An interrupt (Ctrl-C, SIGINT) is one line in the log and
    one on the terminal, and the process exits at once with status 130.
    """
    logs = _paths(getattr(smk, "log", None))
    if logs:
        log_to_file(logs[0], level)
    limit_threads(getattr(smk, "threads", None))
    rule = getattr(smk, "rule", "?")
    wildcards = dict(getattr(smk, "wildcards", {}).items()) if hasattr(smk, "wildcards") else {}
    job = f"{rule} {wildcards}" if wildcards else str(rule)
    log.info("job %s started (pid %d)", job, os.getpid())
    started = time.perf_counter()
    try:
        yield log
    except KeyboardInterrupt:
        # Ctrl-C reaches every job of the terminal's process group: a traceback from
        # each (hundreds of lines through TensorFlow and thread pools) is no news.
        log.warning("job %s interrupted (SIGINT) after %.1f s", job,
                    time.perf_counter() - started)
        logging.shutdown()
        sys.stdout.flush()
        print(f"galstar: {job} interrupted", file=sys.stderr, flush=True)
        # 128 + SIGINT, without waiting for worker threads (a download may hang a minute);
        # the with-blocks the interrupt left have already removed their temporary files
        os._exit(130)
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
