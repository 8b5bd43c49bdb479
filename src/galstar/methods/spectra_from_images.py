"""Spectra from images (Wu & Peek 2020, seed 003): the 6-d VAE latent of a galaxy's SDSS
spectrum from its Pan-STARRS grizy cutout.

A spectrum InfoVAE (:mod:`galstar.models.spectrum_vae`) is trained on the training
split's rest-frame spectra; its 10-d latent means, reduced to 6 by PCA and standardised
on the training split only (the reference standardised on the whole catalogue, a leak
not copied here), are the targets ``latent_1`` ... ``latent_6``
(:mod:`galstar.methods.spectra_from_images_vae`). The five image networks
(:mod:`galstar.models.xresnet`) are ordinary experiments of the generic train / predict
/ evaluate rules; the Table-1 summary and the decoded spectra live in
``spectra_from_images_tables`` and ``spectra_from_images_figures``.

Inputs are the data contract of issue 14 (``SFI_TABLE``, ``SFI_IMAGES``,
``SFI_SPECTRA``, ``SFI_TRUTH`` of :mod:`galstar.paths`): images are stored channels
first (N, 5, S, S) and reach the networks channels last.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from galstar import paths
from galstar.training.experiments import resolve_experiments

__all__ = ["NAME", "TARGETS", "MODELS", "MODEL_OPTIONS", "KERAS_MODULES", "LATENTS",
           "LATENT_TRANSFORM", "VAE", "TABLE_COLUMNS", "experiments", "config_problems",
           "label_columns", "inputs", "read_tables", "load_split", "model_builder",
           "baseline_inputs", "baseline_table", "final_targets", "summary_outputs"]

NAME = "spectra_from_images"
#: The standardised PCA components of the VAE latent, in order of explained variance.
TARGETS = tuple(f"latent_{i}" for i in range(1, 7))
#: Image networks (config ``model``) -> the builder's options besides dropout.
_XRESNET = ("stem_widths", "widths", "blocks", "self_attention", "downsample")
MODEL_OPTIONS = {"xresnet18": _XRESNET, "xresnet18_deconv": _XRESNET,
                 "xresnet18_hybrid": _XRESNET, "simple_cnn": ("widths", "downsample"),
                 "simple_deconv": ("widths", "downsample")}
MODELS = tuple(MODEL_OPTIONS)
#: Modules registering custom layers, imported before a saved model is loaded.
KERAS_MODULES = ("galstar.models.deconv", "galstar.models.xresnet",
                 "galstar.training.optimizers")
#: Columns of ``SFI_TABLE`` the method reads (the data contract).
TABLE_COLUMNS = ("object_id", "split", "shard")

_M = paths.fill(paths.METHOD, method=NAME)
#: The VAE's files (rule sfi_vae).
VAE = {"encoder": f"{_M}/vae/encoder.keras", "decoder": f"{_M}/vae/decoder.keras",
       "normalisation": f"{_M}/vae/normalisation.npz", "history": f"{_M}/vae/history.csv",
       "summary": f"{_M}/vae/summary.json"}
#: The latent targets of every kept object (rule sfi_latents) and how to decode them.
LATENTS = f"{_M}/latents/targets.parquet"
LATENT_TRANSFORM = f"{_M}/latents/transform.npz"
REQUIRED = ("model", "epochs", "batch_size", "learning_rate")


def _section(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get(NAME) or {}


def experiments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every image network, defaults merged; ``inputs`` (the image) added."""
    found = resolve_experiments(config, NAME)
    for name, exp in found.items():
        missing = [k for k in REQUIRED if k not in exp]
        if missing:
            raise ValueError(f"config {NAME}.experiments.{name}: missing keys {missing}")
        if exp["model"] not in MODEL_OPTIONS:
            raise ValueError(f"config {NAME}.experiments.{name}.model: unknown model "
                             f"'{exp['model']}'; choose one of {list(MODELS)}")
        exp["inputs"] = ["image"]
    return found


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """The reported epochs are epochs some experiment runs; the VAE's latent has at
    least as many dimensions as the targets."""
    section = _section(config)
    found = experiments(config)
    problems = []
    longest = max(int(e["epochs"]) for e in found.values())
    report = [int(e) for e in (section.get("evaluation") or {}).get("report_epochs") or []]
    if report and min(report) > longest:
        problems.append(f"{NAME}.evaluation.report_epochs {report}: no experiment runs that "
                        f"long (at most {longest} epochs)")
    latent = int((section.get("vae") or {}).get("latent_dim", 10))
    if latent < len(TARGETS):
        problems.append(f"{NAME}.vae.latent_dim {latent}: must be >= {len(TARGETS)} (the "
                        "targets are its first 6 principal components)")
    return problems


def label_columns(found: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The six standardised latents."""
    return TARGETS


def inputs(experiment: Mapping[str, Any], shards: Sequence[str]) -> dict[str, list[str]]:
    """The per-shard tables and image stacks, and the latent targets."""
    return {"tables": [paths.fill(paths.SFI_TABLE, shard=s) for s in shards],
            "image": [paths.fill(paths.SFI_IMAGES, shard=s) for s in shards],
            "targets": [LATENTS]}


def read_tables(tables: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Every kept object of the shard tables with ``_file`` (the shard's position in
    ``tables``) and ``_row`` (its row in that shard's tensors); a missing contract
    column is an error naming the file."""
    from galstar.io import read_parquet

    frames = []
    for i, path in enumerate(tables):
        frame = read_parquet(path)
        missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"spectra_from_images table {path}: missing columns {missing}")
        frames.append(frame.assign(_file=i, _row=np.arange(len(frame))))
    return pd.concat(frames, ignore_index=True)


@dataclass
class ChannelsLastSource:
    """A channels-first (N, C, H, W) image source seen as channels last (N, H, W, C)."""

    inner: Any

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        c, h, w = self.inner.sample_shape
        return (h, w, c)

    def gather(self, index: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.inner.gather(index).transpose(0, 2, 3, 1))

    def subset(self, index: np.ndarray) -> ChannelsLastSource:
        return ChannelsLastSource(self.inner.subset(index))


def _image_source(rows: pd.DataFrame, files: Sequence[str], shard_rows: Sequence[int]):
    """The images of ``rows``; each shard's stack must have one image per table row."""
    from galstar.io import load_npy
    from galstar.training.data import ShardSource

    arrays = [load_npy(p) for p in files]
    for path, array, n_table in zip(files, arrays, shard_rows, strict=True):
        if array.ndim != 4 or array.dtype != np.float32 or array.shape[1] != 5:
            raise ValueError(f"{path}: expected a float32 (N, 5, S, S) grizy stack, got "
                             f"{array.dtype} {array.shape}")
        if len(array) != n_table:
            raise ValueError(f"{path}: {len(array)} images for {n_table} table rows (the "
                             "contract aligns them row by row)")
    return ChannelsLastSource(ShardSource(arrays, rows["_file"].to_numpy(np.int64),
                                          rows["_row"].to_numpy(np.int64)))


def _with_targets(table: pd.DataFrame, targets_path: str | os.PathLike) -> pd.DataFrame:
    from galstar.io import read_parquet

    targets = read_parquet(targets_path)
    missing = [c for c in ("object_id", "split", *TARGETS) if c not in targets.columns]
    if missing:
        raise ValueError(f"latent targets {targets_path}: missing columns {missing}")
    merged = table.merge(targets[["object_id", "split", *TARGETS]], on="object_id",
                         how="inner", suffixes=("", "_targets"), validate="one_to_one")
    bad = merged["split"] != merged["split_targets"]
    if bad.any():
        raise ValueError(f"latent targets {targets_path}: {int(bad.sum())} objects have another "
                         "split than in the spectra_from_images tables (stale targets?)")
    return merged.drop(columns="split_targets")


def load_split(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any], split: str,
               label_cols: Sequence[str] | None = None):
    """The objects of ``split`` with a latent target: the image (S, S, 5) and the labels."""
    from galstar.training.data import Split, finite_labels

    tables = read_tables(files["tables"])
    table = _with_targets(tables, files["targets"][0])
    rows = table[table["split"] == split].reset_index(drop=True)
    targets = tuple(label_cols or TARGETS)
    labels = finite_labels(rows, targets, str(files["targets"][0]))
    shard_rows = tables.groupby("_file").size().reindex(range(len(files["tables"])),
                                                        fill_value=0)
    source = _image_source(rows, files["image"], shard_rows.tolist())
    return Split({"image": source}, labels, rows.drop(columns=["_file", "_row"]), targets)


def model_builder(experiment: Mapping[str, Any], train, seed: int):
    """``(build(train) -> keras.Model, run_info)``: the image network with the training
    images' per-channel statistics as its normalisation layer."""
    from galstar.methods.multimodal import channel_statistics
    from galstar.models import get_builder

    model = str(experiment["model"])
    mean, variance = channel_statistics(train.inputs["image"], seed=seed)
    options = {k: experiment[k] for k in MODEL_OPTIONS[model] if k in experiment}

    def build(split):
        return get_builder(model)(split.input_shapes["image"], len(split.targets),
                                  input_mean=mean, input_variance=variance,
                                  dropout=float(experiment.get("dropout", 0.1)), **options)

    return build, {"image_channel_mean": mean}


def baseline_inputs(shards: Sequence[str]) -> dict[str, list[str]]:
    """The generic baselines (``baselines: mean``, the training mean latent) read the
    latent targets."""
    return {"targets": [LATENTS]}


def baseline_table(files: Mapping[str, Sequence[str | os.PathLike]],
                   label_cols: Sequence[str]) -> pd.DataFrame:
    """Every object with a latent target."""
    from galstar.io import read_parquet

    return read_parquet(files["targets"][0])


def summary_outputs() -> dict[str, str]:
    """The method's summary files: the Table-1 CSV, the decoded-spectra summary and
    its figures."""
    table = paths.fill(paths.METHOD_TABLE, method=NAME, table="table1")
    errors = paths.fill(paths.METHOD_TABLE, method=NAME, table="decoded_errors")
    figures = {f: paths.fill(paths.METHOD_FIGURE, method=NAME, figure=f)
               for f in ("decoded_spectra", "pixel_errors", "line_zooms", "truth_errors",
                         "vae_reconstruction")}
    return {"table1": table, "decoded_errors": errors, **figures}


def final_targets(found: Mapping[str, Any]) -> list[str]:
    """The VAE, the latent targets, the Table-1 summary and the decoded-spectra figures."""
    return [*VAE.values(), LATENTS, LATENT_TRANSFORM, f"{_M}/decoded/validation.npz",
            *summary_outputs().values()]
