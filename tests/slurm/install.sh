#!/bin/sh
# Install the Debian SLURM and MUNGE packages the SLURM tests start as daemons.
# Idempotent: does nothing when every binary is already on PATH. Needs root and apt-get.
# Installing never starts a daemon here (no systemd); tests/slurm/cluster.py starts its own.
set -eu

missing=""
for bin in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$bin" >/dev/null 2>&1 || missing="$missing $bin"
done
if [ -z "$missing" ]; then
    echo "SLURM and MUNGE already installed"
    exit 0
fi

echo "missing:$missing; installing slurmctld slurmd slurm-client munge" >&2
if [ "$(id -u)" != 0 ]; then
    echo "error: installing SLURM needs root (apt-get); run as root or install" \
        "slurmctld slurmd slurm-client munge yourself" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: apt-get not found; install slurmctld slurmd slurm-client munge" \
        "with this system's package manager" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge
