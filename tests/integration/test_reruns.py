"""Reruns: one stage's config change reruns that stage and its descendants only; --forcerun
and --until behave as the README ("Rerunning one stage") says; the paper-scale plan
is quick and stays in the thousands of jobs.

No pipeline job runs here: the workflow copy is marked complete with ``snakemake --touch``
(which records params and code as a real run does), then every check is a dry run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from slurm.workflow import (
    REPO,
    cluster_jobs,
    copy_workflow,
    job_counts,
    mark_complete,
    plan,
    snakemake,
)

PARAMS_CHANGED = "Params have changed since last execution"
INPUT_UPDATED = "Input files updated by another job"

# Fewer Sigma_SFR features; its baseline must use a subset of them (checked at parse time).
SIGMA_SFR_FEATURES = {"features": ["mag_r", "g_r", "z"],
                      "baselines": {"hgb": {"kind": "hist_gradient_boosting",
                                            "features": ["mag_r", "g_r", "z"]}}}

# One result-changing config value per stage, changed through an extra --configfile
# exactly as a user would: stage -> (its rule files, the override).
STAGE_CHANGES = {
    "mock": (["mock"], {"mock": {"n_galaxies": 4000}}),
    # stellar_fetch; fetch_sdss_* and fetch_mpajhu_dr7 (sdss.smk) when multimodal is built
    "acquire": (["acquire", "stellar", "sdss"], {"download": {"timeout_s": 90.0}}),
    "crossmatch": (["crossmatch"], {"galaxies": {"crossmatch": {"radius_arcsec": 2.5}}}),
    "images": (["images"], {"galaxies": {"preprocess": {"ellipse_scale": 1.4}}}),
    "train": (["train"], {"galeffnet": {"experiments": {"galeffnet": {"learning_rate": 5.0e-4}}}}),
    "evaluate": (["train", "galeffnet", "sigma_sfr", "stellar"],
                 {"evaluation": {"outlier_dex": 0.25}}),
    "sigma_sfr": (["sigma_sfr", "train"], {"sigma_sfr": SIGMA_SFR_FEATURES}),
}

PAPER_MAX_JOBS = 3000


def rules_of(rule_files: list[str]) -> set[str]:
    rules: set[str] = set()
    for name in rule_files:
        text = (REPO / "workflow" / "rules" / f"{name}.smk").read_text()
        rules.update(re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE))
    return rules


def descendants(jobs, roots) -> set[int]:
    """Indices of the jobs that (transitively) consume an output of a job in ``roots``."""
    produced = set()
    found: set[int] = set()
    frontier = list(roots)
    while frontier:
        produced.update(frontier.pop().output)
        for i, job in enumerate(jobs):
            if i not in found and produced.intersection(job.input):
                found.add(i)
                frontier.append(job)
    return found


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("completed"))
    mark_complete(workdir)
    assert [j.rule for j in plan(workdir)] == [], "a completed workdir must have nothing to do"
    return workdir


@pytest.mark.parametrize("stage", list(STAGE_CHANGES))
def test_config_change_reruns_stage_and_descendants_only(completed, stage, tmp_path):
    rule_files, change = STAGE_CHANGES[stage]
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump(change))
    jobs = [j for j in plan(completed, "--configfile", str(override)) if j.rule != "all"]

    stage_rules = rules_of(rule_files)
    changed = [j for j in jobs if PARAMS_CHANGED in j.reason and j.rule in stage_rules]
    assert changed, f"changing {change} reruns no rule of stage {stage}"
    downstream = descendants(jobs, changed)
    for i, job in enumerate(jobs):
        assert job in changed or i in downstream, (
            f"{change} reruns {job.rule}, which is neither in stage {stage} nor downstream "
            f"of it (reason: {job.reason})"
        )

    listed = set(
        snakemake(completed, "--list-changes", "params", "--configfile", str(override))
        .stdout.split()
    )
    assert {out for job in changed for out in job.output} <= listed


def _override(tmp_path, change):
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(change))
    return str(path)


def test_sigma_sfr_features_rerun_only_the_sigma_sfr_chain(completed, tmp_path):
    change = {"sigma_sfr": SIGMA_SFR_FEATURES}
    jobs = [j for j in plan(completed, "--configfile", _override(tmp_path, change))
            if j.rule not in ("all", "calibration_summary", "table_html_calibration")]
    assert "sigma_sfr_sample" in {j.rule for j in jobs if PARAMS_CHANGED in j.reason}
    assert {j.rule for j in jobs} >= {"train", "predict", "evaluate", "sigma_sfr_results"}
    outputs = [o for j in jobs for o in j.output]
    assert outputs and all(o.startswith("results/sigma_sfr/") for o in outputs), outputs


def test_galeffnet_experiment_change_never_reruns_sigma_sfr(completed, tmp_path):
    change = {"galeffnet": {"experiments": {"galeffnet": {"learning_rate": 5.0e-4}}}}
    jobs = plan(completed, "--configfile", _override(tmp_path, change))
    outputs = [o for j in jobs for o in j.output]
    assert any(o.startswith("results/galeffnet/") for o in outputs)
    assert not [o for o in outputs if "sigma_sfr" in o], "a GalEffNet change reran sigma_sfr"
    assert not {j.rule for j in jobs} & {"crossmatch", "preprocess_shard", "sigma_sfr_sample"}


def test_forcerun_reruns_the_rule_and_its_descendants(completed):
    jobs = [j for j in plan(completed, "--forcerun", "preprocess_shard") if j.rule != "all"]
    forced = [j for j in jobs if "Forced execution" in j.reason]
    n_shards = yaml.safe_load((REPO / "config/config.yaml").read_text())["shards"]
    assert sorted(j.rule for j in forced) == ["preprocess_shard"] * n_shards
    assert all(j in forced or j.reason.startswith(INPUT_UPDATED) for j in jobs)
    assert "crossmatch" not in {j.rule for j in jobs}


def test_until_runs_the_rule_and_its_inputs_only(tmp_path):
    workdir = copy_workflow(tmp_path)
    everything = plan(workdir)
    until = plan(workdir, "--until", "crossmatch")
    rules = {j.rule for j in until}
    assert "crossmatch" in rules
    crossmatch = [j for j in everything if j.rule == "crossmatch"]
    downstream = {everything[i].rule for i in descendants(everything, crossmatch)}
    assert downstream, "crossmatch has consumers in the full plan"
    assert not rules & downstream, f"--until crossmatch plans {sorted(rules & downstream)}"
    assert len(until) < len(everything)


def test_paper_scale_plan_is_small_and_grouped(tmp_path):
    """The paper-scale plan stays under a few thousand jobs and groups the small ones.

    How long planning takes is a benchmark (``bench/bench_plan.py``, in ``make bench``),
    not a test: a shared machine stretches timings without the plan changing.
    """
    workdir = copy_workflow(tmp_path)
    proc = snakemake(workdir, "-n", "--workflow-profile", "profiles/slurm",
                     "--configfile", "config/paper.yaml")
    counts = job_counts(proc.stdout + proc.stderr)
    submitted = cluster_jobs(proc.stdout + proc.stderr)
    assert 0 < counts["total"] <= PAPER_MAX_JOBS, counts
    # Every shard is preprocessed, every experiment trained.
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    assert counts["preprocess_shard"] == paper["shards"], counts
    assert 0 < submitted < 0.8 * counts["total"], (submitted, counts)
