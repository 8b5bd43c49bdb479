"""On a real SLURM controller: the tiny pipeline through profiles/slurm, then GPU directives.

Every job goes through sbatch and is polled with squeue (the profile's status command;
the test cluster has no accounting). Evidence that the jobs really ran under SLURM comes
from three independent places: the job ids Snakemake logged at submission, the
controller's own record of each job (``scontrol show job``: completed, named after this
run, in this working directory), and the environment the job step itself logged (its
``SLURM_JOB_ID``). The outputs must equal those of a local run of the same config.

Then the training rules' resources of the default config, through the profile, must become
the right sbatch options, checked in the request the controller recorded. One module for
both, so that one cluster serves them: a second cluster waits for the first (they share
/run/slurm/conf), and under ``--dist loadfile`` that wait would idle a test worker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from slurm.cluster import GPU_PARTITION, running_cluster
from slurm.submit import TRAIN_CPUS, TRAIN_MEM_MB, assert_request, submit_and_inspect
from slurm.workflow import REPO, cluster_jobs, copy_workflow, planned_jobs, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TINY = Path(__file__).with_name("tiny.yaml")
# Site knobs of profiles/slurm sized for the 2-CPU test node; everything else (executor,
# status command, retries, attempt scaling, GPU directives, groups) is the profile as is.
SITE = {
    "GALSTAR_SLURM_GPU_PARTITION": GPU_PARTITION,
    "GALSTAR_SLURM_TRAIN_CPUS": "2",
    "GALSTAR_SLURM_TRAIN_MEM_MB": "4000",
    "GALSTAR_SLURM_MEM_MB": "2000",
    "GALSTAR_SLURM_MAX_THREADS": "2",
}
# Polling: the plugin's first check after 40 s suits a real cluster; here jobs take seconds.
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "2",
             "--seconds-between-status-checks", "2")
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """Two copies of the workflow and one snapshot of the galstar package, taken together.

    galstar is installed editable, so both runs import the snapshot (PYTHONPATH, exported
    to the SLURM jobs too): a source edit in the repository while the test runs must not
    make the two runs differ.
    """
    base = tmp_path_factory.mktemp("e2e")
    code = base / "code"
    shutil.copytree(REPO / "src" / "galstar", code / "galstar",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return copy_workflow(base / "slurm-run"), copy_workflow(base / "local-run"), code


def with_code(env: dict[str, str], code: Path) -> dict[str, str]:
    paths = [str(code), *filter(None, [env.get("PYTHONPATH")])]
    return dict(env, PYTHONPATH=os.pathsep.join(paths))


@pytest.fixture(scope="module")
def slurm_run(cluster, workdirs):
    workdir, _, code = workdirs
    env = with_code(dict(cluster.env, **SITE), code)
    env.pop("GALSTAR_SLURM_GPU_MODEL", None)
    proc = snakemake(
        workdir, "--workflow-profile", "profiles/slurm", "--configfile", str(TINY),
        *FAST_POLL, "--slurm-keep-successful-logs", "--verbose", env=env, timeout=1500,
    )
    return workdir, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def local_run(workdirs):
    _, workdir, code = workdirs
    # The Keras jobs' threads as on the cluster: their pools follow the claim, and
    # TensorFlow's sums depend on the pool size (locally the claim is half the cores).
    snakemake(workdir, "--workflow-profile", "profiles/local", "--cores", "2",
              "--set-threads", f"train={SITE['GALSTAR_SLURM_TRAIN_CPUS']}",
              f"predict={SITE['GALSTAR_SLURM_TRAIN_CPUS']}",
              "--configfile", str(TINY), env=with_code(dict(os.environ), code), timeout=1500)
    return workdir


def submissions(log: str) -> dict[str, str]:
    """Snakemake job id -> SLURM job id, from the 'has been submitted' lines."""
    return dict(SUBMITTED.findall(log))


def test_every_job_was_submitted_through_sbatch(slurm_run, tmp_path):
    workdir, log = slurm_run
    # What the profile should send to SLURM: every job but `rule all`, groups as one job.
    fresh = copy_workflow(tmp_path)
    dry = snakemake(fresh, "-n", "--workflow-profile", "profiles/slurm",
                    "--configfile", str(TINY))
    # Local by design: `all` gathers inputs; the run summary and the tables' report pages
    # are cheap renderings (localrule: True in report.smk).
    local = set(re.findall(r"^localrule (\w+):$", log, flags=re.MULTILINE))
    pages = {r for r in local if r.startswith("table_html_")}
    assert pages and local == {"all", "run_summary", *pages}, local
    expected = cluster_jobs(dry.stdout + dry.stderr, local)
    submitted = submissions(log)
    assert len(submitted) == expected, f"{len(submitted)} sbatch submissions, planned {expected}"
    assert len(set(submitted.values())) == len(submitted), "a SLURM job id was reused"


def test_controller_recorded_every_job_as_completed_for_this_run(cluster, slurm_run):
    workdir, log = slurm_run
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    network_jobs = 0
    for job_id in submissions(log).values():
        record = cluster.job(job_id)  # kept by slurmctld for MinJobAge, no sacct needed
        assert record["JobState"] == "COMPLETED", record
        assert record["JobName"] == run_id, record
        assert Path(record["WorkDir"]) == workdir, record
        # train and predict ran on the node's (fake) GPU, requested as the profile says.
        if record["Comment"].startswith(("rule_train_", "rule_predict_")):
            network_jobs += 1
            assert record["TresPerJob"] == "gres:gpu:1", record
            assert record["Partition"] == GPU_PARTITION, record
    tiny = yaml.safe_load(TINY.read_text())["galeffnet"]["experiments"]
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())["galeffnet"]["experiments"]
    experiments = {name for name in {**demo, **tiny} if tiny.get(name, demo.get(name))}
    assert experiments == {"galeffnet"}  # the tiny config drops galeffnet-z (null)
    assert network_jobs == 2 * len(experiments), "expected one train, one predict job each"


def test_each_job_saw_its_slurm_job_id(slurm_run):
    workdir, log = slurm_run
    slurm_logs = workdir / ".snakemake" / "slurm_logs"
    for job_id in submissions(log).values():
        files = list(slurm_logs.rglob(f"{job_id}.log"))
        assert len(files) == 1, f"no SLURM log for job {job_id} under {slurm_logs}"
        # The job step (snakemake --executor slurm-jobstep, verbose) logs its environment.
        assert f"'SLURM_JOB_ID': '{job_id}'" in files[0].read_text(), files[0]


def result_files(workdir: Path) -> dict[str, Path]:
    root = workdir / "results"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


# Bytes that legitimately differ between two runs of the same code on the same data:
# rendered figures/HTML (timestamps, backend details), and wall-clock measurements.
VOLATILE = (".png", ".html", ".svg", ".pdf")


def is_timing(key: str) -> bool:
    return "seconds" in key or key.endswith("per_s")


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items()
                if not is_timing(str(k)) and k != "shared_object_id"}  # id() of a dtype
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def assert_same_result(name: str, path: Path, other: Path) -> None:
    if name.endswith(VOLATILE):
        assert path.stat().st_size > 0 and other.stat().st_size > 0, name
    elif name.endswith(".parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(path), pd.read_parquet(other), obj=name)
    elif name.endswith(".npy"):
        np.testing.assert_array_equal(np.load(path, allow_pickle=False),
                                      np.load(other, allow_pickle=False), err_msg=name)
    elif name.endswith(".csv"):
        frames = [pd.read_csv(p) for p in (path, other)]
        frames = [f[[c for c in f.columns if not is_timing(c)]] for f in frames]
        pd.testing.assert_frame_equal(*frames, obj=name)
    elif name.endswith("model.json"):
        # the package's checksums cover a .keras zip's save time and config.yaml's timings;
        # those files are compared above on what must match, so only the names here
        ours, theirs = (yaml.safe_load(p.read_text()) for p in (path, other))
        assert sorted(ours.pop("files")) == sorted(theirs.pop("files")), name
        assert without_timing(ours) == without_timing(theirs), name
    elif name.endswith((".yaml", ".json")):
        assert without_timing(yaml.safe_load(path.read_text())) == without_timing(
            yaml.safe_load(other.read_text())), name
    elif name.endswith(".keras"):
        # A zip: the weights must match bit for bit; metadata.json only says when it was saved.
        with zipfile.ZipFile(path) as ours, zipfile.ZipFile(other) as theirs:
            assert ours.read("model.weights.h5") == theirs.read("model.weights.h5"), name
            assert without_timing(json.loads(ours.read("config.json"))) == without_timing(
                json.loads(theirs.read("config.json"))), name
    else:
        assert path.read_bytes() == other.read_bytes(), name


def test_outputs_equal_a_local_run(slurm_run, local_run):
    workdir, _ = slurm_run
    on_cluster, local = result_files(workdir), result_files(local_run)
    assert on_cluster, "the tiny run produced no results"
    assert sorted(on_cluster) == sorted(local)
    for name, path in on_cluster.items():
        assert_same_result(name, path, local[name])


# GPU directives: the GPU partition is set DOWN, so submitted jobs stay PENDING.

@pytest.fixture(scope="module")
def gpu_partition_down(cluster):
    cluster.run("scontrol", "update", f"PartitionName={cluster.gpu_partition}", "State=DOWN")
    yield
    cluster.run("scontrol", "update", f"PartitionName={cluster.gpu_partition}", "State=UP")


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
def gpu_jobs(cluster, gpu_partition_down, tmp_path_factory):
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
