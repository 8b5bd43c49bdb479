"""Planning benchmark: how long Snakemake takes to plan the paper-scale DAG.

Writes ``results/benchmarks/plan.json``: the CPU and wall seconds of
``snakemake -n --workflow-profile profiles/slurm --configfile config/paper.yaml`` in a
copy of the workflow, the number of jobs and of SLURM submissions. Target: under 10 s of
CPU (a user waits for this before every run). CPU, not wall time, is the figure: a busy
machine stretches wall time without the plan getting slower.

Run: ``.venv/bin/python bench/bench_plan.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from slurm.workflow import cluster_jobs, copy_workflow, job_counts, snakemake  # noqa: E402

TARGET_CPU_S = 10.0


def plan_once(workdir: Path) -> dict[str, float | int]:
    """One paper-scale dry run: CPU and wall seconds, jobs and SLURM submissions."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    proc = snakemake(workdir, "-n", "--workflow-profile", "profiles/slurm",
                     "--configfile", "config/paper.yaml")
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = proc.stdout + proc.stderr
    return {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "jobs": job_counts(log)["total"], "slurm_jobs": cluster_jobs(log)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/plan.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = copy_workflow(Path(tmp) / "workflow")
        runs = [plan_once(workdir) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r["cpu_s"])
    result = {"benchmark": "paper-scale dry run", "target_cpu_s": TARGET_CPU_S,
              "best_cpu_s": best["cpu_s"], "meets_target": best["cpu_s"] < TARGET_CPU_S,
              "jobs": best["jobs"], "slurm_jobs": best["slurm_jobs"], "runs": runs,
              "machine": {"python": platform.python_version(), "cpu": platform.processor()}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
