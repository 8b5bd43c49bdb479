"""Integration: every multimodal experiment in a tiny configuration through Snakemake.

The SDSS contract files (tables, spectra and image tensors, the grid, the catalogue
shards) are written synthetically (tests/multimodal_synthetic.py) and only the rules
below them may run (``--allowed-rules``), so this exercises the method's rules: feature
baselines with CV, the five networks, late fusion, active learning, latent maps, the
results table, figures and report pages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from multimodal_synthetic import write_multimodal_contract
from workflow_runs import report_below, snakemake_below

pytestmark = pytest.mark.slow

M = "results/multimodal"
NETWORKS = ["image-cnn", "spectrum-dense", "spectrum-cnn1d", "early-fusion",
            "early-fusion-nomd"]
TABULAR = ["linear-image", "rf-image", "linear-spectrum", "rf-spectrum"]
LATE = ["late-fusion", "late-fusion-all"]
MODELS = [*TABULAR, *NETWORKS, *LATE, "baseline-mean"]
N_PIXELS = 1200
UPSTREAM = {"simulate_mock_archive", "fetch_mpajhu", "fetch_dr9_sweeps", "crossmatch",
            "simulate_sdss_spectra", "simulate_sdss_images", "fetch_mpajhu_dr7",
            "fetch_sdss_spectra", "fetch_sdss_images", "sdss_targets", "sdss_spectra",
            "sdss_spectra_grid", "sdss_images", "sdss_table", "sdss_image_sample"}


def _targets() -> list[str]:
    out = [f"{M}/metrics/results.csv", f"{M}/metrics/fusion.csv",
           f"{M}/figures/r2.png", f"{M}/figures/pred_vs_true.png",
           f"{M}/metrics/active_learning.csv", f"{M}/metrics/active_learning_summary.csv",
           f"{M}/active_learning/acquired.parquet", f"{M}/figures/active_learning.png",
           f"{M}/latent/embedding.parquet", f"{M}/figures/latent_maps.png"]
    for n in MODELS:
        out += [f"{M}/predictions/{n}.parquet", f"{M}/metrics/{n}.csv",
                f"{M}/metrics/{n}/calibration.csv"]
    for n in NETWORKS:
        out += [f"{M}/models/{n}/{f}" for f in ("model.keras", "config.yaml", "history.csv")]
    for n in [*TABULAR, *LATE]:
        out.append(f"{M}/models/{n}/fit.json")
    out += [f"{M}/metrics/{n}/cv.csv" for n in TABULAR]
    out += [f"{M}/tuning/spectrum-dense/tuned.json", f"{M}/tuning/spectrum-dense/cv.csv"]
    return out + [t.removesuffix(".csv") + ".html" for t in out
                  if t.endswith(".csv") and "/models/" not in t]


def _config(repo: Path, image_epochs: int = 3) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=2, methods=["multimodal"])
    config["galaxies"]["sdss"]["spectra"]["grid"]["n_pixels"] = N_PIXELS
    section = config["multimodal"]
    section["training"].update(epochs=4, batch_size=32, latent_units=16, dense_units=16,
                               threads=2, mem_mb=2000, runtime=10)
    exps = section["experiments"]
    exps["image-cnn"].update(widths=[4, 8], epochs=image_epochs)
    exps["spectrum-dense"]["hidden_units"] = 32
    # the networks' hyperparameters by CV on the training split (off in the demo)
    exps["spectrum-dense"]["tune"] = {"grid": {"hidden_units": [8, 32]}, "folds": 2}
    exps["spectrum-cnn1d"]["widths"] = [4, 8]
    for name in ("early-fusion", "early-fusion-nomd"):
        exps[name].update(image_widths=[4, 8], spectrum_widths=[4, 8])
    for spec in section["tabular"]["models"].values():
        if spec["kind"] == "random_forest":
            spec["n_estimators"] = 10
    section["active_learning"].update(initial=40, step=20, rounds=2, steps=3, mc_passes=3,
                                      repeats=2)
    section["latent_maps"]["max_objects"] = 60
    config["evaluation"]["mc_passes"] = 3
    return config


def _snakemake(repo: Path, workdir: Path, config: dict, *args: str) -> str:
    return snakemake_below(repo, workdir, config, UPSTREAM, *args, timeout=900)


@pytest.fixture(scope="module")
def workflow_run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("multimodal_workflow")
    data = write_multimodal_contract(workdir, n_objects=360, n_shards=2, n_pixels=N_PIXELS,
                                     seed=5)
    config = _config(repo)
    _snakemake(repo, workdir, config, *_targets())
    return workdir, config, data


def test_every_output_exists_and_scores_the_same_objects(workflow_run):
    workdir, _, data = workflow_run
    missing = [t for t in _targets() if not (workdir / t).is_file()]
    assert not missing
    results = pd.read_csv(workdir / f"{M}/metrics/results.csv")
    assert list(results["model"]) == MODELS
    truth = data["truth"]
    n_test = int((truth["kept"] & (truth["split"] == "test")).sum())
    assert (results["z_N"] == n_test).all()  # every model on the same test galaxies
    assert results.loc[results["model"] == "baseline-mean", "mean_R2"].iloc[0] < 0.05
    best = results.set_index("model")
    # spectra carry the redshift exactly (lines): the spectrum features find it
    assert best.loc["linear-spectrum", "z_R2"] > 0.9, best["z_R2"]
    assert best.loc["rf-spectrum", "z_sigma_mad"] < 0.05
    assert (results.loc[results["kind"] != "mean", "train_s"] > 0).all()
    fusion = pd.read_csv(workdir / f"{M}/metrics/fusion.csv")
    assert set(fusion["fusion"]) == {"early_fusion", "late_fusion"}


def test_cv_choice_recorded_and_stacking_on_validation(workflow_run):
    workdir, _, _ = workflow_run
    fit = json.loads((workdir / f"{M}/models/rf-image/fit.json").read_text())
    assert len(fit["cv"]) == 2 and set(fit["chosen"]) == {"min_samples_leaf", "max_features"}
    cv = pd.read_csv(workdir / f"{M}/metrics/linear-spectrum/cv.csv")
    assert cv["chosen"].sum() == 1 and len(cv) == 4
    late = json.loads((workdir / f"{M}/models/late-fusion/fit.json").read_text())
    assert late["fit_split"] == "val" and late["members"] == ["image-cnn", "spectrum-cnn1d"]
    pred = pd.read_parquet(workdir / f"{M}/predictions/late-fusion.parquet")
    assert set(pred["split"]) == {"val", "test"}


def test_network_hyperparameters_chosen_by_cv_on_the_training_split(workflow_run):
    workdir, _, _ = workflow_run
    tuning = workdir / f"{M}/tuning/spectrum-dense"
    cv = pd.read_csv(tuning / "cv.csv")
    assert list(cv["hidden_units"]) == [8, 32] and (cv["n_folds"] == 2).all()
    assert cv["chosen"].sum() == 1
    assert cv.loc[cv["chosen"], "cv_loss_mean"].iloc[0] == cv["cv_loss_mean"].min()
    chosen = int(cv.loc[cv["chosen"], "hidden_units"].iloc[0])
    assert json.loads((tuning / "tuned.json").read_text())["chosen"] == {"hidden_units": chosen}
    trained = yaml.safe_load((workdir / f"{M}/models/spectrum-dense/config.yaml").read_text())
    assert trained["experiment"]["hidden_units"] == chosen
    assert trained["experiment"]["tuned"] == {"hidden_units": chosen}
    n_train = trained["run"]["n_train"]  # the whole training split
    for point in (0, 1):
        sizes = []
        for fold in (0, 1):
            trial = tuning / f"spectrum-dense-tune{point}-fold{fold}"
            run = yaml.safe_load((trial / "config.yaml").read_text())["run"]
            sizes.append((run["n_train"], run["n_val"]))
            assert not (trial / "model.keras").exists()  # trial weights are temporary
        # the two folds of the training split: each object validates exactly once
        assert sum(v for _, v in sizes) == n_train and all(t + v == n_train for t, v in sizes)


def test_networks_and_active_learning(workflow_run):
    workdir, _, _ = workflow_run
    for n in NETWORKS:
        history = pd.read_csv(workdir / f"{M}/models/{n}/history.csv")
        assert history["loss"].iloc[-1] < history["loss"].iloc[0], (n, history)
    pred = pd.read_parquet(workdir / f"{M}/predictions/image-cnn.parquet")
    # MC dropout: 3 passes through the tiny head can coincide for an object whose head
    # units are all inactive, so not every sigma need be positive
    assert (pred["z_sigma"] > 0).mean() > 0.95, pred["z_sigma"].describe()
    curve = pd.read_csv(workdir / f"{M}/metrics/active_learning.csv")
    assert sorted(set(curve["n_labels"])) == [40, 60, 80]
    assert set(curve["target"]) == {"z", "sfr_tot_median"}
    acquired = pd.read_parquet(workdir / f"{M}/active_learning/acquired.parquet")
    assert sorted(set(curve["repeat"])) == [0, 1] and len(curve) == 2 * 2 * 3 * 2
    for _, group in acquired.groupby(["repeat", "strategy"]):
        assert group["object_id"].is_unique and len(group) == 80
    embedding = pd.read_parquet(workdir / f"{M}/latent/embedding.parquet")
    assert len(embedding) == 60 and embedding[["tsne_x", "umap_x"]].notna().all().all()


def test_report_holds_every_table_and_figure(workflow_run, repo):
    workdir, config, _ = workflow_run
    html = report_below(repo, workdir, config, UPSTREAM, _targets(), M, timeout=900)
    for name in ("results.html", "fusion.html", "r2.png", "pred_vs_true.png",
                 "latent_maps.png", "active_learning.png", "active_learning_summary.html"):
        assert name in html, name


def test_image_change_reruns_only_image_models(workflow_run, repo):
    workdir, _, _ = workflow_run
    out = _snakemake(repo, workdir, _config(repo, image_epochs=4), "-n", *_targets())
    trained = set(re.findall(r"^rule train:\n(?:.*\n)*?\s+wildcards: method=multimodal, "
                             r"experiment=([\w.-]+)", out, flags=re.M))
    assert trained == {"image-cnn"}, trained
    rules = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert "multimodal_tabular" not in rules and "multimodal_features" not in rules
    assert {"multimodal_late_fusion", "multimodal_active_learning"} <= rules
