"""Submit one planned job through profiles/slurm and read back what the controller recorded.

Helpers of the GPU-directive tests in test_slurm.py: the test node's GPU is fake
(gres.conf with /dev/null), so its partition is set DOWN and jobs are accepted and
recorded but never start; Snakemake is then interrupted and cancels them itself.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from slurm.workflow import SNAKEMAKE

# Site knobs of profiles/slurm/config.yaml, sized for the 2-CPU test node. Runtime keeps
# the profile's default (720 min, 12:00:00) so that the default is what gets checked.
TRAIN_CPUS = 2
TRAIN_MEM_MB = 3000


def submit_and_inspect(cluster, workdir: Path, job, env, attempt: int, log: Path):
    """Let Snakemake submit ``job`` alone; return (sbatch call, controller record)."""
    for path in job.input:  # stand-ins: only the rule under test may run
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).touch()
    args = [SNAKEMAKE, "--workflow-profile", "profiles/slurm", "--allowed-rules", job.rule,
            "--attempt", str(attempt), "--verbose", "--slurm-init-seconds-before-status-checks",
            "2", *job.output]
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=workdir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 180
        while not (match := re.search(r"submitted with SLURM jobid (\d+)", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"job of rule {job.rule} was not submitted:\n"
                                     f"{log.read_text()[-6000:]}")
            time.sleep(0.5)
        job_id = match.group(1)
        record = cluster.job(job_id)
        call = re.search(r"sbatch call: (sbatch .*)", log.read_text()).group(1)
    finally:
        # Interrupted, Snakemake cancels what it submitted (scancel): part of the contract.
        interrupt(proc, workdir, env)
    deadline = time.monotonic() + 30
    while cluster.job(job_id)["JobState"] != "CANCELLED":
        assert time.monotonic() < deadline, f"job {job_id} not cancelled by Snakemake"
        time.sleep(0.5)
    return call, record


def _default_sigint() -> None:
    # A test run started in the background (``cmd &``, as CI runners may) inherits an
    # ignored SIGINT, and Python then never raises KeyboardInterrupt: Ctrl-C must work.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc: subprocess.Popen, workdir: Path, env: dict[str, str]) -> None:
    """Ctrl-C Snakemake; SIGKILL it if it has not stopped after two minutes.

    A killed Snakemake leaves its lock behind; it is released here so that the next
    test is not failed by it. The caller still checks that the job was cancelled.
    """
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        subprocess.run([SNAKEMAKE, "--unlock"], cwd=workdir, env=env, capture_output=True,
                       timeout=120)


def assert_request(call: str, record: dict[str, str], gpus: str, mem_mb: int,
                   time_limit: str, partition: str) -> None:
    # The plugin's submit string: options built from resources, none from slurm_extra.
    assert f"--gpus={gpus}" in call, call
    assert "--gres" not in call, call
    assert f" -p {partition}" in call, call
    assert f"--mem {mem_mb}" in call, call
    assert f"--cpus-per-task={TRAIN_CPUS}" in call, call
    # What the controller recorded: --gpus is a per-job TRES (--gres would be per node).
    assert record["TresPerJob"] == f"gres:gpu:{gpus}", record
    assert "TresPerNode" not in record, record
    assert record["Partition"] == partition, record
    assert record["MinMemoryNode"] == f"{mem_mb}M", record
    assert record["TimeLimit"] == time_limit, record
    assert record["CPUs/Task"] == str(TRAIN_CPUS), record
    assert record["JobState"] == "PENDING" and record["Reason"] == "PartitionDown", record
