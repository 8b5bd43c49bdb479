"""Integration: spectra_from_images in a tiny configuration through Snakemake.

The data contract's files (SFI_TABLE, SFI_IMAGES, SFI_SPECTRA, SFI_TRUTH, the grid) are
written synthetically (tests/sfi_synthetic.py) and only the rules below them may run:
the spectrum VAE for a few epochs, its latent targets, all five image networks for a
few steps (generic train / predict / evaluate rules), the mean-latent baseline, the
Table-1 summary, the decoded spectra, the figures and the report pages.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sfi_synthetic import write_sfi_contract
from workflow_runs import SNAKEMAKE, report_below, snakemake_below

pytestmark = pytest.mark.slow

M = "results/spectra_from_images"
NETWORKS = ["xresnet18-hybrid", "xresnet18", "xresnet18-deconv", "simple-cnn", "simple-deconv"]
ARCH = {"xresnet18-hybrid": "xresnet18_hybrid", "xresnet18": "xresnet18",
        "xresnet18-deconv": "xresnet18_deconv", "simple-cnn": "simple_cnn",
        "simple-deconv": "simple_deconv"}
FIGURES = ["decoded_spectra", "pixel_errors", "line_zooms", "truth_errors", "vae_reconstruction"]
#: The rules under test; every other rule of the workflow is upstream of the contract.
DOWNSTREAM = {"sfi_vae", "sfi_latents", "sfi_table1", "sfi_decode", "sfi_figures", "train",
              "predict", "evaluate", "baseline", "plot_learning_curve", "run_summary"}


def _targets() -> list[str]:
    out = [f"{M}/vae/{f}" for f in ("encoder.keras", "decoder.keras", "normalisation.npz",
                                     "history.csv", "summary.json")]
    out += [f"{M}/latents/targets.parquet", f"{M}/latents/transform.npz",
            f"{M}/decoded/validation.npz", f"{M}/metrics/table1.csv",
            f"{M}/metrics/decoded_errors.csv"]
    out += [f"{M}/figures/{f}.png" for f in FIGURES]
    for n in [*NETWORKS, "baseline-mean"]:
        out += [f"{M}/predictions/{n}.parquet", f"{M}/metrics/{n}.csv"]
    for n in NETWORKS:
        out += [f"{M}/models/{n}/{f}" for f in ("model.keras", "config.yaml", "history.csv")]
    return out + [t.removesuffix(".csv") + ".html" for t in out
                  if t.endswith(".csv") and "/models/" not in t and "/vae/" not in t]


def _config(repo: Path) -> dict:
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=2, methods=["spectra_from_images"])
    section = config["spectra_from_images"]
    section["vae"].update(hidden=[64, 32], epochs=4, batch_size=32, patience=4)
    section["training"].update(epochs=2, batch_size=32, threads=2, mem_mb=2000, runtime=10)
    for exp in section["experiments"].values():
        if exp["model"].startswith("xresnet"):
            exp.update(stem_widths=[4, 4, 8], widths=[8, 8], blocks=[1, 1])
        else:
            exp["widths"] = [4, 4, 8]
    section["evaluation"].update(report_epochs=[1, 2], decoded_examples=4)
    config["evaluation"]["mc_passes"] = 3
    return config


def _upstream(repo: Path, workdir: Path, config: dict) -> set[str]:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    listed = subprocess.run([SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile", str(cfg),
                             "--directory", str(workdir), "--list-rules"], capture_output=True,
                            text=True, timeout=600, check=True)
    rules = set(listed.stdout.split())
    assert DOWNSTREAM <= rules, sorted(DOWNSTREAM - rules)
    return {r for r in rules if r not in DOWNSTREAM and not r.startswith("table_html_")}


@pytest.fixture(scope="module")
def workflow_run(repo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sfi_workflow")
    data = write_sfi_contract(workdir, n_objects=240, n_shards=2, image_size=16, seed=5)
    config = _config(repo)
    upstream = _upstream(repo, workdir, config)
    snakemake_below(repo, workdir, config, upstream, *_targets(), timeout=1200)
    return workdir, config, data, upstream


def test_every_output_exists(workflow_run):
    workdir, _, _, _ = workflow_run
    missing = [t for t in _targets() if not (workdir / t).is_file()]
    assert not missing


def test_targets_standardised_on_training_split(workflow_run):
    workdir, _, data, _ = workflow_run
    targets = pd.read_parquet(workdir / f"{M}/latents/targets.parquet")
    assert len(targets) == 240 and targets["object_id"].is_unique
    latents = [f"latent_{i}" for i in range(1, 7)]
    train = targets[targets["split"] == "train"]
    assert np.allclose(train[latents].mean(), 0, atol=1e-6)
    assert np.allclose(train[latents].std(ddof=0), 1, atol=1e-6)
    val = targets[targets["split"] == "val"]
    assert not np.allclose(val[latents].mean(), 0, atol=1e-6)  # not re-standardised on val
    truth = data["table"].set_index("object_id").loc[targets["object_id"]]
    assert (truth["split"].to_numpy() == targets["split"].to_numpy()).all()


def test_table1_ranks_every_model_from_its_numbers(workflow_run):
    workdir, _, data, _ = workflow_run
    table = pd.read_csv(workdir / f"{M}/metrics/table1.csv")
    assert set(table["model"]) == {*NETWORKS, "baseline-mean"}
    assert list(table["rank"]) == list(range(1, 7))
    assert table["val_mse"].is_monotonic_increasing  # ranked by the run's own MSE
    n_val = int((data["table"]["split"] == "val").sum())
    assert (table["n_val"] == n_val).all()
    nets = table.set_index("model").loc[NETWORKS]
    assert list(nets["architecture"]) == [ARCH[n] for n in NETWORKS]
    assert (nets["parameters"] > 0).all() and (nets["epochs_run"] == 2).all()
    assert nets[["val_mse_epoch_1", "val_mse_epoch_2"]].notna().all().all()
    # the per-latent RMSEs make up the MSE
    rmse = nets[[f"rmse_latent_{i}" for i in range(1, 7)]].to_numpy()
    assert np.allclose((rmse**2).mean(axis=1), nets["val_mse"], rtol=1e-6)
    base = table.set_index("model").loc["baseline-mean"]
    assert 0.7 < base["val_mse"] < 1.5  # the training mean of standardised latents
    assert (table["baseline_mse"] == base["val_mse"]).all()
    for n in NETWORKS:
        history = pd.read_csv(workdir / f"{M}/models/{n}/history.csv")
        assert np.isfinite(history["val_loss"]).all(), (n, history)
        assert history["learning_rate"].iloc[0] != history["learning_rate"].iloc[-1]  # one-cycle


def test_decoded_errors(workflow_run):
    workdir, _, _, _ = workflow_run
    errors = pd.read_csv(workdir / f"{M}/metrics/decoded_errors.csv").set_index("model")
    assert set(errors.index) == {"vae_target", *NETWORKS}
    assert (errors["n_truth"] == errors["n_val"]).all()  # the mock knows every truth (in part)
    assert errors["rms_truth"].notna().all() and (errors["rms_truth"] > 0).all()
    decoded = np.load(workdir / f"{M}/decoded/validation.npz")
    assert decoded["decoded"].shape == (6, 4, 1000)
    assert decoded["pixel_rms_truth"].shape == (6, 1000)


def test_report_holds_every_table_and_figure(workflow_run, repo):
    workdir, config, _, upstream = workflow_run
    html = report_below(repo, workdir, config, upstream, _targets(), M, timeout=900)
    for name in ("table1.html", "decoded_errors.html", *[f"{f}.png" for f in FIGURES]):
        assert name in html, name
    assert "spectra_from_images" in html
