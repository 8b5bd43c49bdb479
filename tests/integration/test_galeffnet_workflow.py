"""Integration: Snakemake trains and evaluates a tiny configuration end to end.

Stage 3 outputs (the preprocessed shards) and the cross-matched catalogue shards the
baselines join are written synthetically in their contract format, and only the
training, evaluation and report rules may run (``--allowed-rules``; Snakemake would
otherwise rebuild the whole chain above the synthetic files), so this test exercises
exactly those rules; the upstream stages have their own integration tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from synthetic import write_synthetic_shards
from workflow_runs import report_below, snakemake_below

pytestmark = pytest.mark.slow

EXPERIMENTS = ["tiny", "tiny-bands-gr"]
FIGURES = ["pred_vs_ref", "distributions", "uncertainty", "by_size", "by_redshift", "by_type"]


G = "results/galeffnet"
BASELINES = ("mean", "random_forest")
#: The rules upstream of the synthetic files, which must not run here.
UPSTREAM = {"simulate_mock_archive", "fetch_mpajhu", "fetch_dr9_sweeps", "crossmatch",
            "catalog_neighbours", "fetch_cutouts", "preprocess_shard", "preprocess_variant"}


def _targets() -> list[str]:
    out = [f"{G}/metrics/table1.csv", f"{G}/metrics/image_gain.csv",
           f"{G}/figures/ablation_bands.png", "results/calibration.csv"]
    for e in EXPERIMENTS:
        out += [f"{G}/models/{e}/{f}" for f in ("model.keras", "scaler.json", "history.csv",
                                                "config.yaml", "learning_curve.png")]
        out += [f"{G}/predictions/{e}.parquet", f"{G}/metrics/{e}.csv",
                f"{G}/metrics/{e}/table2.csv", f"{G}/metrics/{e}/calibration.csv",
                f"{G}/metrics/{e}/uncertainty_bins.csv"]
        out += [f"{G}/figures/{e}/{f}.png" for f in FIGURES]
    for b in BASELINES:
        out += [f"{G}/predictions/baseline-{b}.parquet", f"{G}/metrics/baseline-{b}.csv"]
    # every table is also a report page (report_table in common.smk)
    return out + [t.removesuffix(".csv") + ".html" for t in out
                  if t.endswith(".csv") and "/models/" not in t]


def _config(repo: Path, learning_rate: float) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config["shards"] = 2
    config["methods"] = ["galeffnet"]
    section = config["galeffnet"]
    section["experiments"] = {"tiny": {
        "task": "mass_ssfr", "backbone": "efficientnet_b0", "weights": "none", "bands": "grz",
        "resolution": 64, "epochs": 5, "batch_size": 16, "learning_rate": learning_rate,
        "dense_units": 32, "threads": 2, "mem_mb": 2000, "runtime": 10}}
    section["ablations"] = {"base": "tiny", "bands": ["gr"], "resolution": []}
    section["evaluation"]["reference"] = "tiny"
    section["baselines"] = {"mean": {"kind": "mean"}, "random_forest": {
        **section["baselines"]["random_forest"], "n_estimators": 20}}
    config["training"]["early_stopping"] = {"min_delta": 0.0, "patience": 5}
    config["evaluation"]["mc_passes"] = 3
    return config


def _snakemake(repo: Path, workdir: Path, config: dict, *args: str) -> str:
    return snakemake_below(repo, workdir, config, UPSTREAM, *args, timeout=1200)


@pytest.fixture(scope="module")
def workflow_run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("train_workflow")
    write_synthetic_shards(workdir / "results/galaxies/preprocess", n_objects=260, n_shards=2,
                           resolution=64, variants=(("gr", 64),), seed=11,
                           catalog_root=workdir / "results/galaxies/catalog/shards")
    config = _config(repo, learning_rate=1e-3)
    _snakemake(repo, workdir, config, *_targets())
    return workdir, config


def test_every_output_exists(workflow_run):
    workdir, _ = workflow_run
    missing = [t for t in _targets() if not (workdir / t).is_file()]
    assert not missing
    table1 = pd.read_csv(workdir / f"{G}/metrics/table1.csv")
    assert list(table1["experiment"]) == [*EXPERIMENTS, "baseline-mean",
                                         "baseline-random_forest"]
    assert table1.loc[1, "bands"] == "gr" and table1.loc[1, "ablation_of"] == "tiny"
    assert (table1["logM_N"] == table1.loc[0, "logM_N"]).all()  # same test objects
    gain = pd.read_csv(workdir / f"{G}/metrics/image_gain.csv")
    assert set(gain["baseline"]) == {"baseline-mean", "baseline-random_forest"}
    assert set(gain["network"]) == set(EXPERIMENTS)  # image-only networks, z-free forest
    log = (workdir / "logs/galeffnet/train/tiny.log").read_text()
    assert "training on cpu" in log
    for e in EXPERIMENTS:
        assert (workdir / f"benchmarks/galeffnet/train/{e}.tsv").is_file()
    calibration = pd.read_csv(workdir / "results/calibration.csv")
    assert set(calibration["model"]) == {*EXPERIMENTS, "baseline-mean",
                                         "baseline-random_forest"}


def test_validation_loss_falls(workflow_run):
    workdir, _ = workflow_run
    for e in EXPERIMENTS:
        history = pd.read_csv(workdir / f"{G}/models/{e}/history.csv")
        assert len(history) == 5
        # val_loss adds the L2 penalty, which grows as the weights leave their start
        assert history["val_mae"].min() < history["val_mae"].iloc[0], history
        assert history["loss"].iloc[-1] < history["loss"].iloc[0], history


def test_predictions_carry_mc_dropout_spread(workflow_run):
    workdir, _ = workflow_run
    pred = pd.read_parquet(workdir / f"{G}/predictions/tiny.parquet")
    assert set(pred["split"]) == {"val", "test"}
    assert (pred["lgm_fib_p50_sigma"] > 0).all()
    calibration = pd.read_csv(workdir / f"{G}/metrics/tiny/calibration.csv")
    assert (calibration["scale"] > 0).all()


def test_report_holds_every_table_and_figure(workflow_run, repo):
    workdir, config = workflow_run
    # Stage 3 inputs are synthetic: upstream report files get stand-ins
    html = report_below(repo, workdir, config, UPSTREAM, _targets(), G)
    reported = [t for t in _targets() if t.endswith((".png", ".csv"))
                and "/models/" not in t or t.endswith("learning_curve.png")]
    reported = [t for t in reported if t != "results/calibration.csv"] + ["calibration.csv"]
    absent = [t for t in reported if Path(t).name not in html]
    assert not absent
    assert "Table 1 (paper layout)" in html and "MC-dropout" in html


def test_learning_rate_change_reruns_only_training_and_evaluation(workflow_run, repo):
    workdir, config = workflow_run
    changed = _config(repo, learning_rate=5e-4)
    out = _snakemake(repo, workdir, changed, "-n", *_targets())
    rules = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert "train" in rules
    assert not any(r.startswith(("preprocess", "baseline", "crossmatch")) for r in rules)
    pages = {r for r in rules if r.startswith("table_html_")}
    assert rules - pages <= {"train", "predict", "evaluate", "galeffnet_breakdown",
                             "galeffnet_figures", "plot_learning_curve", "galeffnet_table1",
                             "galeffnet_ablation", "calibration_summary"}, rules
    unchanged = _snakemake(repo, workdir, config, "-n", *_targets())
    assert not re.findall(r"^rule (\w+):", unchanged, flags=re.M)
