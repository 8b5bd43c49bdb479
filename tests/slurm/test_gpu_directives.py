"""The training rules' resources, through profiles/slurm, become the right sbatch options.

Checked where it matters: in the request the real slurmctld recorded (``scontrol show
job``), plus the submit string the plugin logged. The test node's GPU is fake (gres.conf
with /dev/null), so the GPU partition is set DOWN: jobs are accepted and recorded but never
start, then Snakemake is interrupted and cancels them itself.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from slurm.cluster import running_cluster
from slurm.workflow import SNAKEMAKE, copy_workflow, planned_jobs, snakemake

pytestmark = [pytest.mark.slurm]

# Site knobs of profiles/slurm/config.yaml, sized for the 2-CPU test node. Runtime keeps
# the profile's default (720 min) so that the default is what gets checked.
TRAIN_CPUS = 2
TRAIN_MEM_MB = 3000
TRAIN_RUNTIME_MIN = 720


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("slurm")) as running:
        running.run("scontrol", "update", f"PartitionName={running.gpu_partition}",
                    "State=DOWN")
        yield running


def profile_env(cluster, **extra: str) -> dict[str, str]:
    env = dict(cluster.env)
    env.update(
        GALSTAR_SLURM_GPU_PARTITION=cluster.gpu_partition,
        GALSTAR_SLURM_TRAIN_CPUS=str(TRAIN_CPUS),
        GALSTAR_SLURM_TRAIN_MEM_MB=str(TRAIN_MEM_MB),
    )
    env.pop("GALSTAR_SLURM_GPU_MODEL", None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def gpu_jobs(cluster, tmp_path_factory):
    """One planned job per rule that the profile sends to a GPU, in a private workdir."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    plan = snakemake(workdir, "--workflow-profile", "profiles/slurm", "-n", "--forceall",
                     env=profile_env(cluster))
    by_rule = {}
    for job in planned_jobs(plan.stdout + plan.stderr):
        if job.resources.get("gpu") == "1":
            by_rule.setdefault(job.rule, job)
    assert by_rule, "no job of the workflow requests a GPU through profiles/slurm"
    return workdir, list(by_rule.values())


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


def test_gpu_model_partition_time_memory_reach_the_controller(cluster, gpu_jobs, tmp_path):
    workdir, jobs = gpu_jobs
    for job in jobs:
        env = profile_env(cluster, GALSTAR_SLURM_GPU_MODEL=cluster.gpu_model)
        call, record = submit_and_inspect(cluster, workdir, job, env, attempt=1,
                                          log=tmp_path / f"{job.rule}.log")
        assert_request(call, record, gpus=f"{cluster.gpu_model}:1", mem_mb=TRAIN_MEM_MB,
                       time_limit="12:00:00", partition=cluster.gpu_partition)


def test_retry_attempt_grows_memory_and_time(cluster, gpu_jobs, tmp_path):
    """Attempt 2 (a retry after OOM or timeout) asks for twice the memory and time."""
    workdir, jobs = gpu_jobs
    job = jobs[0]
    call, record = submit_and_inspect(cluster, workdir, job, profile_env(cluster), attempt=2,
                                      log=tmp_path / f"{job.rule}.log")
    assert_request(call, record, gpus="1", mem_mb=2 * TRAIN_MEM_MB,
                   time_limit="1-00:00:00", partition=cluster.gpu_partition)

