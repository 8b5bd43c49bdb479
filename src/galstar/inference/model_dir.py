"""A trained model as a portable directory: everything a prediction needs, checked.

``results/<method>/models/<experiment>/`` holds the training outputs (``model.keras``,
``scaler.json``, ``history.csv``, ``config.yaml``) and, written by the ``package_model``
rule, ``model.json`` (identity, code version, inference settings, file checksums),
``preprocessing.yaml`` (the flat preprocessing record), ``calibration.json`` (the
validation-fitted sigma scale and conformal quantiles), ``metrics.csv`` (test split),
``training_sample.parquet`` (the objects it was trained and validated on) and
``model_card.md``. Nothing outside the directory is read when predicting.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from galstar.io import atomic_path, read_parquet, write_parquet

__all__ = ["FORMAT", "TRAINING_FILES", "PACKAGE_FILES", "ModelDirectory", "sha256_of",
           "calibration_record", "training_sample", "write_package"]

#: Version of the model.json layout.
FORMAT = 1
#: Files the train rule writes (checksummed in model.json).
TRAINING_FILES = ("model.keras", "scaler.json", "history.csv", "config.yaml")
#: Files the package_model rule writes.
PACKAGE_FILES = ("model.json", "preprocessing.yaml", "calibration.json", "metrics.csv",
                 "training_sample.parquet", "model_card.md")


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def calibration_record(calibration: pd.DataFrame, source: str) -> dict[str, Any]:
    """Per target: the scale of the MC-dropout sigma fitted on the validation split and
    the normalised split-conformal half-widths per level, from an evaluation
    calibration table (:func:`galstar.evaluation.calibration.calibration_table`)."""
    for column in ("target", "level", "scale", "conformal_q"):
        if column not in calibration.columns:
            raise ValueError(f"{source}: calibration table lacks column '{column}'")
    out: dict[str, Any] = {}
    for target, rows in calibration.groupby("target", sort=False):
        scale = float(rows["scale"].iloc[0])
        out[str(target)] = {
            "scale": scale if math.isfinite(scale) else None,
            "conformal_q": {f"{float(lv):g}": (float(q) if math.isfinite(q) else None)
                            for lv, q in zip(rows["level"], rows["conformal_q"],
                                             strict=True)}}
    return out


def training_sample(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The objects of the training and validation splits (``object_id``, ``split`` and
    the star name ``karmn`` where the method has one)."""
    frames = []
    for split, table in zip(("train", "val"), tables, strict=True):
        cols = [c for c in ("object_id", "karmn") if c in table.columns]
        frames.append(table[cols].assign(split=split))
    out = pd.concat(frames, ignore_index=True)
    out["object_id"] = out["object_id"].astype(np.int64)
    return out


def write_package(model_dir: str | os.PathLike, *, method: str, experiment: str,
                  evaluated_as: str, code_version: str, archive: str,
                  targets: Sequence[str], units: Mapping[str, str],
                  inference: Mapping[str, Any], inputs: Mapping[str, Any],
                  preprocessing: Mapping[str, Any], calibration: pd.DataFrame,
                  calibration_source: str, metrics: pd.DataFrame,
                  sample: pd.DataFrame, card: str) -> dict[str, Any]:
    """Write the package files beside the training outputs (each atomically, model.json
    last: its presence means the directory is complete). Returns model.json's content."""
    root = Path(model_dir)
    missing = [f for f in TRAINING_FILES if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"model directory {root}: missing {missing}")
    with atomic_path(root / "preprocessing.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(dict(preprocessing), sort_keys=True))
    with atomic_path(root / "calibration.json") as tmp:
        tmp.write_text(json.dumps({"source": calibration_source, "fitted_on": "val",
                                   "targets": calibration_record(calibration,
                                                                 calibration_source)},
                                  indent=2))
    with atomic_path(root / "metrics.csv") as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.6g")
    write_parquet(sample, root / "training_sample.parquet")
    with atomic_path(root / "model_card.md") as tmp:
        tmp.write_text(card)
    files = {f: sha256_of(root / f) for f in (*TRAINING_FILES, *PACKAGE_FILES[1:])}
    manifest = {"format": FORMAT, "name": f"{method}/{experiment}", "method": method,
                "experiment": experiment, "evaluated_as": evaluated_as,
                "code_version": code_version, "archive": archive,
                "targets": list(targets), "units": dict(units),
                "inference": dict(inference), "inputs": dict(inputs), "files": files}
    with atomic_path(root / "model.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return manifest


@dataclass(frozen=True)
class ModelDirectory:
    """A packaged model directory, read and checked (:meth:`open`)."""

    root: Path
    manifest: dict[str, Any]
    preprocessing: dict[str, Any]
    calibration: dict[str, Any]
    experiment: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike, verify: bool = True) -> ModelDirectory:
        """Read ``path``; with ``verify``, every file's checksum is compared with
        model.json's (a clear error names a missing or changed file)."""
        root = Path(path)
        manifest_path = root / "model.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"model directory {root}: no model.json (not a packaged model; build it "
                f"with `snakemake {root}/model.json`, rule package_model)")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{manifest_path}: format {manifest.get('format')}, this code "
                             f"reads format {FORMAT}")
        if verify:
            for name, digest in manifest["files"].items():
                file = root / name
                if not file.is_file():
                    raise FileNotFoundError(f"model directory {root}: missing {name}")
                if sha256_of(file) != digest:
                    raise ValueError(f"model directory {root}: {name} differs from the file "
                                     "it was packaged with (checksum in model.json)")
        preprocessing = yaml.safe_load((root / "preprocessing.yaml").read_text()) or {}
        calibration = json.loads((root / "calibration.json").read_text())
        experiment = yaml.safe_load((root / "config.yaml").read_text())["experiment"]
        return cls(root, manifest, preprocessing, calibration, experiment)

    @property
    def method(self) -> str:
        return str(self.manifest["method"])

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def targets(self) -> list[str]:
        return list(self.manifest["targets"])

    def path(self, name: str) -> Path:
        return self.root / name

    def training_sample(self) -> pd.DataFrame:
        return read_parquet(self.root / "training_sample.parquet")

    def sigma_scale(self, target: str) -> float:
        """The validation factor of ``target``'s MC-dropout sigma (NaN when none)."""
        value = self.calibration["targets"].get(target, {}).get("scale")
        return float("nan") if value is None else float(value)

    def conformal_q(self, target: str, level: float) -> float:
        """The normalised conformal half-width of ``target`` at ``level`` (NaN if none)."""
        value = self.calibration["targets"].get(target, {}).get("conformal_q", {}).get(
            f"{float(level):g}")
        return float("nan") if value is None else float(value)
