"""Integration: the sigma_sfr method alone through Snakemake on a tiny mock archive.

Mock archive -> MPA-JHU and DR9 sweeps -> cross-match -> the method's sample -> four
1D-CNN experiments and the gradient-boosted baseline -> metrics, calibration, the
results table, figures and the report. No cutout is fetched: the method needs none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
S = "results/sigma_sfr"
EXPERIMENTS = ["resnet", "resnet-lds", "cnn", "resnet-mse"]
MODELS = [*EXPERIMENTS, "baseline-hgb"]


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=2, methods=["sigma_sfr"])
    config["mock"].update(n_galaxies=500, n_field=300, n_stars=30)
    config["sigma_sfr"]["training"].update(
        epochs=4, batch_size=32, first_width=8, widths=[8, 8, 16, 16], dense_units=[16, 8],
        threads=2, mem_mb=2000, runtime=10)
    config["sigma_sfr"]["baselines"]["hgb"]["max_iter"] = 30
    config["evaluation"]["mc_passes"] = 3
    return config


def _run(repo: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cfg = workdir / "config.yaml"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile", str(cfg), "--directory",
         str(workdir), "--cores", "2", *args],
        capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sigma_sfr_workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo), sort_keys=False))
    proc = _run(repo, workdir)
    return workdir, proc.stdout + proc.stderr


def test_builds_the_method_and_nothing_it_does_not_need(run):
    workdir, log = run
    for name in EXPERIMENTS:
        for f in ("model.keras", "scaler.json", "history.csv", "config.yaml",
                  "learning_curve.png"):
            assert (workdir / S / "models" / name / f).is_file(), (name, f)
    for name in MODELS:
        assert (workdir / S / "metrics" / f"{name}.csv").is_file()
        assert (workdir / S / "metrics" / name / "calibration.csv").is_file()
    for f in ("residuals", "pred_vs_true"):
        assert (workdir / S / "figures" / f"{f}.png").stat().st_size > 5000
    assert not (workdir / "results/galeffnet").exists()
    assert not list((workdir / "resources/mock").glob("cutouts/*.parquet"))  # no cutouts
    assert "rule fetch_cutouts" not in log and "rule preprocess_shard" not in log


def test_sample_and_results_table(run):
    workdir, _ = run
    sample = pd.read_parquet(workdir / S / "sample.parquet")
    crossmatch = pd.read_parquet(workdir / "results/galaxies/catalog/crossmatch.parquet")
    assert len(sample) == len(crossmatch)  # every galaxy, kept or not, with its reason
    assert set(sample["reject_reason"][~sample["kept"]]) <= {"no_redshift", "no_size",
                                                             "no_sfr"} | {
        r for r in sample["reject_reason"] if r.startswith("nonfinite_")}
    results = pd.read_csv(workdir / S / "metrics/results.csv")
    assert list(results["experiment"]) == MODELS
    n_test = int(((sample["split"] == "test") & sample["kept"]).sum())
    assert (results["N"] == n_test).all()
    assert (results["low_N"] == -(-n_test * 2 // 10)).all()  # ceil(20 % of the test set)
    assert results["MAE"].notna().all() and (results["spread_ratio"] > 0).all()
    bins = pd.read_csv(workdir / S / "metrics/residual_bins.csv")
    assert set(bins["experiment"]) == set(MODELS)
    # LDS weights reach the weighted experiment only
    weighted = yaml.safe_load((workdir / S / "models/resnet-lds/config.yaml").read_text())
    assert weighted["experiment"]["sample_weights"] == "lds"
    calibration = pd.read_csv(workdir / "results/calibration.csv")
    assert set(calibration["method"]) == {"sigma_sfr"} and set(calibration["model"]) == set(MODELS)


@pytest.fixture(scope="module")
def report(run, repo):
    workdir, _ = run
    _run(repo, workdir, "--report", "report.html")
    return workdir / "report.html"


def test_report_has_the_method_entries(run, report):
    workdir, _ = run
    html = report.read_text(errors="replace")
    # tables are HTML pages (the CSV is a download inside each page), every entry labelled
    blob = html.split('<script id="results">', 1)[1].split("var results = ", 1)[1]
    entries = json.loads(blob.split("</script>", 1)[0].strip().rstrip(";"))
    names = {Path(e).name for e in entries}
    assert {"results.html", "residual_bins.html", "residuals.png", "pred_vs_true.png",
            "calibration.html", "cutflow.html", "run_summary.html"} <= names, names
    assert not [e for e in entries if e.endswith(".csv")]
    assert all(entry["labels"] for entry in entries.values())
    assert entries[f"{S}/metrics/results.html"]["mime_type"] == "text/html"
    assert "sigma_sfr" in html and "spread ratio" in html
    page = (workdir / S / "metrics/results.html").read_text()
    results = pd.read_csv(workdir / S / "metrics/results.csv")
    assert page.count("<tr>") == len(results) + 1  # header and one row per model
    assert f"<td>{MODELS[0]}</td>" in page and f"{results['MAE'][0]:.3f}</td>" in page
    assert 'download="results.csv" href="data:text/csv;base64,' in page
    summary = (workdir / "results/run_summary.html").read_text()
    assert ", ".join(MODELS) in summary and "<td>code version</td>" in summary


def test_report_in_a_browser(report, tmp_path):
    """The landing page shows the run's description; a table page shows its table."""
    from report_browser import check_report, find_chromium
    if find_chromium() is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium)")
    shots = check_report(report, tmp_path, "results/sigma_sfr/metrics/results.html")
    for text in ("This run", "mock", "sigma_sfr", ", ".join(MODELS), "Code version",
                 "Configuration"):
        assert text in shots["dom"], text
    from PIL import Image
    for key in ("landing", "table"):
        image = Image.open(shots[key]).convert("L")
        assert image.size == (1400, 1000)
        # rendered, not blank: the page has text (dark pixels) on a light background
        dark = sum(image.histogram()[:96]) / (1400 * 1000)
        assert dark > 0.002, (key, dark)
