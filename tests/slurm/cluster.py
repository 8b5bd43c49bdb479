"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd.

Everything lives under one temporary directory (config, munge key and socket, state,
spool, logs, pid files) and the daemons listen on free ports, so the cluster neither
touches /etc nor collides with another SLURM on the machine. Client commands (sbatch,
squeue, scontrol, and Snakemake's SLURM executor, which shells out to them) reach it
through the environment in ``SlurmCluster.env`` (``SLURM_CONF``).

The daemons run in the foreground as children of the test process, so they are stopped
by the PIDs this module started, never by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

INSTALL_SCRIPT = Path(__file__).with_name("install.sh")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")

NODE = "galstar-node"
PARTITION = "main"  # default partition, CPU jobs
GPU_PARTITION = "gpu"  # same node; the GPU directive test sets it DOWN to hold jobs
GPU_MODEL = "testgpu"  # the type of the node's fake GPU (gres.conf)
# Where SLURM clients look for the config when SLURM_CONF is unset: the compiled-in
# default, then the configless cache that slurmd keeps on compute nodes.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CONFIGLESS_DIR = Path("/run/slurm/conf")
# The SLURM executor plugin first checks job status after 40 s by default and only trusts
# squeue when finished jobs stay visible for 3x that (MinJobAge >= 120 s). The tests also
# read every finished job back from the controller after the whole run: keep them an hour.
MIN_JOB_AGE_S = 3600


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    env: dict[str, str]
    node: str = NODE
    partition: str = PARTITION
    gpu_partition: str = GPU_PARTITION
    gpu_model: str = GPU_MODEL
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    start_seconds: float = 0.0

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """Run a SLURM client command against this cluster and return its stdout."""
        proc = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed with exit code {proc.returncode}:\n"
                f"{proc.stderr.strip()}\n{self.log_tails()}"
            )
        return proc.stdout

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict of its KEY=VALUE fields (controller's record)."""
        out = self.run("scontrol", "show", "job", "--oneliner", job_id)
        return parse_scontrol(out)

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still remembers (finished ones for MinJobAge)."""
        out = self.run("scontrol", "show", "job", "--oneliner")
        return [parse_scontrol(line) for line in out.splitlines() if line.startswith("JobId=")]

    def queued_job_ids(self) -> list[str]:
        out = self.run("squeue", "--noheader", "--format=%i", "--states=PENDING,RUNNING,"
                       "CONFIGURING,COMPLETING,SUSPENDED")
        return out.split()

    def cancel_all(self, timeout: float = 60) -> None:
        """Cancel every job of this cluster and wait until none is left running.

        Job steps (slurmstepd) are daemonised by slurmd, not our children: letting SLURM
        finish them is the only way to leave no job process behind.
        """
        job_ids = self.queued_job_ids()
        if not job_ids:
            return
        self.run("scancel", *job_ids, check=False)
        deadline = time.monotonic() + timeout
        while self.queued_job_ids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still queued after scancel: {self.queued_job_ids()}")
            time.sleep(0.5)

    def log_tails(self, lines: int = 20) -> str:
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)


def parse_scontrol(line: str) -> dict[str, str]:
    """Split one ``scontrol show ... --oneliner`` record into its KEY=VALUE fields."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_slurm_available() -> None:
    """Install SLURM when missing; skip (naming the failed check) where it cannot run."""
    if platform.system() != "Linux":
        pytest.skip(f"SLURM daemons need Linux (platform.system() is {platform.system()})")
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        proc = subprocess.run(["sh", str(INSTALL_SCRIPT)], capture_output=True, text=True)
        still = [b for b in BINARIES if shutil.which(b) is None]
        if still:
            pytest.skip(
                f"SLURM binaries missing ({', '.join(still)}) and {INSTALL_SCRIPT.name} could "
                f"not install them (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
    if os.geteuid() != 0:
        # slurmd must be root to start job steps as the submitting user.
        pytest.skip(f"slurmd needs root to launch jobs (euid is {os.geteuid()})")


def node_hardware() -> str:
    """The node's CPU/memory line as slurmd itself detects it (``slurmd -C``)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0].split()
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore",
            "RealMemory")
    return " ".join(t for t in first if t.split("=")[0] in keep)


def write_config(root: Path) -> tuple[Path, Path]:
    for sub in ("etc", "state", "spool", "log", "run", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o755)  # clients need to reach the socket
    munge_socket = root / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    conf = root / "etc" / "slurm.conf"
    conf.write_text(
        f"""\
ClusterName=galstar-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: containers and CI runners rarely delegate them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
ReturnToService=2
MinJobAge={MIN_JOB_AGE_S}
KillWait=5
InactiveLimit=0
MailProg=/bin/true
# A fake GPU (gres.conf, no device file) so --gpus requests are accepted and recorded;
# a GRES-less cluster rejects them at submission.
GresTypes=gpu
NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 {node_hardware()} \
Gres=gpu:{GPU_MODEL}:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName={GPU_PARTITION} Nodes={NODE} MaxTime=INFINITE State=UP
"""
    )
    (root / "etc" / "gres.conf").write_text(
        f"NodeName={NODE} Name=gpu Type={GPU_MODEL} File=/dev/null\n"
    )
    return conf, munge_socket


def _left_by_killed_test(link: Path) -> bool:
    """Whether ``link`` is a test cluster's config link whose controller no longer runs.

    A killed test run leaves the link behind, pointing at its pytest tmp directory (which
    pytest keeps for a few runs): without this check every later run would skip.
    """
    if not link.exists():
        return True
    conf = link / "slurm.conf"
    try:
        text = conf.read_text()
    except OSError:
        return False
    if "ClusterName=galstar-test" not in text:
        return False  # a real configless node's config: never touch it
    pid_file = link.resolve().parent / "run" / "slurmctld.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return True  # no pid file, or no such process
    return False


@contextlib.contextmanager
def node_config_link(etc: Path) -> Iterator[None]:
    """Expose ``etc`` at /run/slurm/conf for the duration, as a configless node does.

    Inside a job, snakemake-executor-plugin-slurm-jobstep strips every SLURM_* variable
    except the job's identity (SLURM_CONF included) before it calls ``srun``, so srun finds
    the config only where a compute node keeps it: /etc/slurm/slurm.conf or, on configless
    clusters, /run/slurm/conf/slurm.conf. We use the latter and remove it afterwards.
    """
    if SYSTEM_CONF.exists():
        pytest.skip(f"{SYSTEM_CONF} exists: job steps (srun) would read that cluster's config, "
                    "not the test cluster's")
    if CONFIGLESS_DIR.is_symlink() and _left_by_killed_test(CONFIGLESS_DIR):
        CONFIGLESS_DIR.unlink()
    if CONFIGLESS_DIR.exists() or CONFIGLESS_DIR.is_symlink():
        pytest.skip(f"{CONFIGLESS_DIR} exists (a configless slurmd runs here?): job steps "
                    "would read that config, not the test cluster's")
    created_parent = not CONFIGLESS_DIR.parent.exists()
    CONFIGLESS_DIR.parent.mkdir(parents=True, exist_ok=True)
    CONFIGLESS_DIR.symlink_to(etc, target_is_directory=True)
    try:
        yield
    finally:
        if CONFIGLESS_DIR.is_symlink() and CONFIGLESS_DIR.resolve() == etc.resolve():
            CONFIGLESS_DIR.unlink()
        if created_parent:
            with contextlib.suppress(OSError):
                CONFIGLESS_DIR.parent.rmdir()


def _wait(what: str, ready, cluster: SlurmCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {proc.returncode} while waiting for {what}\n"
                    f"{cluster.log_tails()}"
                )
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}\n"
                               f"{cluster.log_tails()}")
        time.sleep(0.2)


def _start(cluster: SlurmCluster, name: str, args: list[str]) -> None:
    # The child keeps its own copy of the descriptor; ours can close right away.
    with open(cluster.log_dir / f"{name}.stdout.log", "w") as log:
        cluster.procs[name] = subprocess.Popen(
            args, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _node_idle(cluster: SlurmCluster) -> bool:
    out = cluster.run("sinfo", "--noheader", "--Node", "--format=%N %t", check=False)
    return any(line.split() == [cluster.node, "idle"] for line in out.splitlines())


def _controller_up(cluster: SlurmCluster) -> bool:
    out = cluster.run("scontrol", "ping", check=False)
    return "is UP" in out


@contextlib.contextmanager
def running_cluster(root: Path, timeout: float = 60) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd under ``root``; stop exactly those at exit.

    One test cluster at a time on a machine (they share /run/slurm/conf): a second one,
    e.g. from another pytest-xdist worker, waits for the first to stop.
    """
    ensure_slurm_available()
    lock = open(Path(tempfile.gettempdir()) / "galstar-test-slurm.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes or the process dies
    try:
        with _running_cluster(root, timeout) as cluster:
            yield cluster
    finally:
        lock.close()


@contextlib.contextmanager
def _running_cluster(root: Path, timeout: float) -> Iterator[SlurmCluster]:
    started = time.monotonic()
    conf, munge_socket = write_config(root)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["SLURM_CONF"] = str(conf)
    cluster = SlurmCluster(root=root, conf=conf, env=env)
    with contextlib.ExitStack() as stack:
        stack.enter_context(node_config_link(conf.parent))
        stack.callback(_shutdown, cluster)
        _start(cluster, "munged", [
            "munged", "--foreground", "--force", f"--socket={munge_socket}",
            f"--key-file={key}", f"--pid-file={root}/run/munged.pid",
            f"--log-file={root}/log/munged.log", f"--seed-file={root}/munge/seed",
        ])
        _wait("the munge socket", munge_socket.exists, cluster, timeout)
        _start(cluster, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(conf)])
        _wait("slurmctld to answer scontrol ping", lambda: _controller_up(cluster), cluster,
              timeout)
        _start(cluster, "slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(conf)])
        _wait(f"node {NODE} to be idle in sinfo", lambda: _node_idle(cluster), cluster, timeout)
        cluster.start_seconds = time.monotonic() - started
        yield cluster


def _shutdown(cluster: SlurmCluster) -> None:
    try:
        if "slurmd" in cluster.procs and cluster.procs["slurmd"].poll() is None:
            cluster.cancel_all()
    finally:
        # Reverse start order: slurmd, slurmctld, then munged which both authenticate with.
        for name in reversed(list(cluster.procs)):
            _stop(cluster.procs[name])
