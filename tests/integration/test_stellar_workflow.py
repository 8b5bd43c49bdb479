"""Integration: the stellar method alone through Snakemake on a tiny stellar mock.

Stellar mock (30 stars, 12 grid nodes, two VIS orders and one NIR order) -> file
tables -> each arm's observed stars and grid -> the sample -> StarNet in regimes a
(synthetic), b (3-fold CV) and c (fine-tuned folds), a VGG-1D and a fusion model ->
gathered folds, metrics, Table 6.1, the gap table and figures, report entries. Then a
dry run: a new resolving power reruns the grid and the grid-trained models only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
S = "results/stellar"
N_STARS = 30
NODES = [[t, g, m] for t in (2800.0, 3200.0, 3600.0, 4000.0) for g in (4.5, 5.0)
         for m in (-0.5, 0.0)][:12]
FOLDS = 3


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(methods=["stellar"])
    st = config["stellar"]
    st["mock"] = {"n_stars": N_STARS, "options": {
        "vis_orders": [30, 31], "nir_orders": [12], "grid_subset": NODES,
        "wrong_shape_fraction": 0.1, "label_sentinel_fraction": 0.1,
        "outside_grid_fraction": 0.0}}
    st["arms"]["vis"]["grid"]["n_pixels"] = 256
    st["arms"]["nir"]["grid"]["n_pixels"] = 256
    st["grid_augment"] = {"copies": 2, "noiseless": True, "snr": [50, 150], "rv_sigma_kms": 10}
    st["training"].update(epochs=2, batch_size=8, filters=[2, 4], dense_units=[8, 4],
                          threads=2, mem_mb=2000, runtime=10)
    st["experiments"] = {
        "starnet-vis-a": {"arm": "vis", "regime": "synthetic"},
        "starnet-vis-b": {"arm": "vis", "regime": "observed", "folds": FOLDS,
                          "val_share": 0.5},
        "starnet-vis-c": {"arm": "vis", "regime": "finetune", "folds": FOLDS,
                          "init_from": "starnet-vis-a", "learning_rate": 3.0e-4},
        "vgg1d-T-nir-a": {"model": "vgg1d", "targets": ["teff"], "arm": "nir",
                          "regime": "synthetic", "widths": [4, 4, 8], "dense_units": []},
        "starnet-fusion-b": {"arm": "fusion", "regime": "observed", "folds": FOLDS},
    }
    config["evaluation"]["mc_passes"] = 3
    return config


def _run(repo: Path, workdir: Path, *args: str, extra_config: str | None = None
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    configs = [str(workdir / "config.yaml")] + ([extra_config] if extra_config else [])
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile", *configs,
         "--directory", str(workdir), "--cores", "2", *args],
        capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


@pytest.fixture(scope="module")
def run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stellar_workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(_config(repo), sort_keys=False))
    proc = _run(repo, workdir)
    return workdir, proc.stdout + proc.stderr


def test_only_the_stellar_method_is_built(run):
    workdir, log = run
    assert not (workdir / "results/galaxies").exists()
    assert not (workdir / "resources/archive/mock/skyserver").exists()
    for name in ("starnet-vis-a", "vgg1d-T-nir-a", *(f"starnet-vis-b-fold{k}"
                                                   for k in range(FOLDS))):
        assert (workdir / S / "models" / name / "model.keras").is_file(), name


def test_counts_after_rejects_match_the_mock(run):
    workdir, _ = run
    truth = pd.read_parquet(workdir / "resources/archive/mock/stellar/truth/stars.parquet")
    sample = pd.read_parquet(workdir / S / "sample.parquet")
    labels = pd.read_csv(workdir / "resources/archive/mock/stellar/labels/literature.csv")
    # one row per star observed or labelled
    assert len(sample) == len(set(truth["karmn"]) | set(labels["Karmn"]))
    for arm in ("vis", "nir"):
        table = pd.read_parquet(workdir / S / "observed" / f"{arm}.parquet")
        array = np.load(workdir / S / "observed" / f"{arm}.npy")
        assert len(table) == N_STARS  # one file per star and arm, kept or with its reason
        assert array.shape == (int(table["kept"].sum()), 256)
        assert np.isfinite(array).all()
        wrong = truth["injected"].str.contains(f"wrong_shape_[a-z]+_{arm}", regex=True)
        bad = truth["injected"].str.contains(f"(?:wrong_shape_[a-z]+|nan_order)_{arm}",
                                             regex=True)
        rejected = table.set_index("karmn").loc[truth["karmn"], "reject_reason"]
        assert (rejected[wrong.to_numpy()].str.startswith("wrong_shape")).all()
        assert int(table["reject_reason"].str.startswith("wrong_shape").sum()) == int(wrong.sum())
        assert (rejected[bad.to_numpy()] != "").all()  # a NaN order leaves too little
        assert int(table["kept"].sum()) <= N_STARS - int(bad.sum())
    usable = (sample["label_reason"] == "") & (sample["vis_row"] >= 0)
    sentinel = labels[["Teff", "logg", "[Fe/H]"]].eq(-9999).any(axis=1).sum()
    assert (sample["label_reason"].str.startswith("sentinel")).sum() == sentinel
    rejects = pd.read_csv(workdir / S / "rejects.csv")
    assert len(rejects) == int((sample["label_reason"] != "").sum()) + sum(
        int((~pd.read_parquet(workdir / S / "observed" / f"{a}.parquet")["kept"]).sum())
        for a in ("vis", "nir"))
    # every regime is tested on the same usable VIS stars, each exactly once
    for name in ("starnet-vis-a", "starnet-vis-b", "starnet-vis-c"):
        pred = pd.read_parquet(workdir / S / "predictions" / f"{name}.parquet")
        test = pred[pred["split"] == "test"]
        assert sorted(test["object_id"]) == sorted(sample.loc[usable, "object_id"]), name
    gathered = pd.read_parquet(workdir / S / "predictions" / "starnet-vis-b.parquet")
    val = gathered.loc[gathered["split"] == "val", "object_id"]
    assert val.is_unique and set(val) < set(sample.loc[usable, "object_id"])  # half a fold
    full = pd.read_parquet(workdir / S / "predictions" / "starnet-fusion-b.parquet")
    assert full["object_id"][full["split"] == "val"].is_unique  # val_share 1: whole folds
    grid = pd.read_parquet(workdir / S / "grid" / "vis.parquet")
    assert len(grid) == 2 * len(NODES) and grid["kept"].all()


def test_tables_and_figures(run):
    workdir, _ = run
    table = pd.read_csv(workdir / S / "metrics" / "table6_1.csv")
    # 3 TGM models x 3 parameters + T-only (1) + fusion TGM (3)
    assert len(table) == 3 * 3 + 1 + 3
    assert set(table["regime"].str[0]) == {"a", "b", "c"}
    assert np.allclose(table["MSE"], table["RMSE"] ** 2)
    row = table[(table["experiment"] == "starnet-vis-b") & (table["parameter"] == "teff")]
    pred = pd.read_parquet(workdir / S / "predictions" / "starnet-vis-b.parquet")
    test = pred[pred["split"] == "test"]
    assert row["MAE"].iloc[0] == pytest.approx(
        np.mean(np.abs(test["teff_pred"] - test["teff_true"])), rel=1e-5)
    gap = pd.read_csv(workdir / S / "metrics" / "synthetic_gap.csv")
    vis = gap[(gap["model"] == "starnet") & (gap["arm"] == "vis")]
    assert len(vis) == 3 and vis[["MAE_a", "MAE_b", "MAE_c"]].notna().all().all()
    for figure in ("synthetic_gap", "preprocessing"):
        assert (workdir / S / "figures" / f"{figure}.png").stat().st_size > 10_000
    for name in ("starnet-vis-a", "starnet-vis-b", "vgg1d-T-nir-a", "starnet-fusion-b"):
        assert (workdir / S / "figures" / name / "pred_vs_true.png").is_file()
        metrics = pd.read_csv(workdir / S / "metrics" / f"{name}.csv")
        assert metrics["N"].min() >= 1
    config = yaml.safe_load((workdir / S / "models/starnet-vis-c-fold0/config.yaml").read_text())
    assert config["run"]["init_from"].endswith("starnet-vis-a/model.keras")


def test_report_has_a_stellar_category(run, repo):
    workdir, _ = run
    _run(repo, workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    blob = html.split('<script id="results">', 1)[1].split("var results = ", 1)[1]
    entries = json.loads(blob.split("</script>", 1)[0].strip().rstrip(";"))
    stellar = {e: v for e, v in entries.items() if e.startswith(f"{S}/")}
    names = {Path(e).name for e in stellar}
    assert {"table6_1.html", "synthetic_gap.html", "rejects.html", "synthetic_gap.png",
            "preprocessing.png", "pred_vs_true.png"} <= names, names
    assert not [e for e in entries if e.endswith(".csv")]  # tables are pages
    assert all(v["labels"] for v in stellar.values())
    assert "Table 6.1" in html and "synthetic gap" in html


def test_resolving_power_reruns_the_grid_side_only(run, repo):
    workdir, _ = run
    change = workdir / "resolving_power.yaml"
    change.write_text("stellar:\n  arms:\n    vis: {resolving_power: 90000}\n")
    proc = _run(repo, workdir, "-n", extra_config=str(change))
    jobs = proc.stdout
    assert "stellar_grid" in jobs and "wildcards: arm=vis" in jobs
    assert "rule stellar_observed" not in jobs and "rule stellar_mock" not in jobs
    trained = {line.split("experiment=")[1].split(",")[0].strip()
               for line in jobs.splitlines() if "wildcards: method=stellar, experiment=" in line}
    assert "starnet-vis-a" in trained
    assert all(n.startswith("starnet-vis-a") or n.startswith("starnet-vis-c") for n in trained)
    assert not any(n.startswith(("starnet-vis-b", "starnet-fusion-b", "vgg1d-T-nir"))
                   for n in trained)
