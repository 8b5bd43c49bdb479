"""The stellar method's data products: fetched file lists, prepared arms, grid, sample.

- :func:`fetch_stellar`: the grid files (Teff, log g, [M/H], path), the observed
  spectrum files (arm, path) and the literature labels, from the mock archive's
  directory or downloaded (live Lyon BT-Settl grid, CARMENES URL list).
- :func:`prepare_observed_arm`: every spectrum of one arm through
  :func:`galstar.spectra.preprocess_observed`; one table row per file (kept or its
  reason) and one array row per kept spectrum.
- :func:`prepare_grid_arm`: every grid node (times its noisy copies) truncated,
  degraded to the arm's R, resampled onto the same arm grid and normalised alike.
- :func:`build_sample`: one row per star: labels (or why none), each arm's array row
  (or why none), ``object_id``.
Wavelengths are in Angstrom, Teff in K, log g in dex (cgs), [M/H] in dex.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galstar.io import atomic_path, read_parquet, write_parquet

__all__ = ["ARMS", "LABELS", "GRID_ID_OFFSET", "observed_settings", "normalise_settings",
           "arm_grid", "fetch_stellar", "prepare_observed_arm", "prepare_grid_arm",
           "build_sample", "write_npy"]

log = logging.getLogger(__name__)

ARMS = ("vis", "nir")
#: Label columns (literature names: Teff [K], log g [dex], [M/H] [dex]).
LABELS = ("teff", "logg", "mh")
#: Grid spectra get object ids from here up (observed stars: 0..n-1).
GRID_ID_OFFSET = 1_000_000_000


def write_npy(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write a float32 array atomically (``np.load(..., allow_pickle=False)`` reads it)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(array, dtype=np.float32), allow_pickle=False)


# ------------------------------------------------------------------------- settings


def arm_grid(arm_config: Mapping[str, Any], arm: str):
    """The :class:`~galstar.spectra.ArmGrid` of config ``stellar.arms.<arm>.grid``."""
    from galstar.spectra import ArmGrid

    return ArmGrid.from_mapping(arm_config["grid"], key=f"stellar.arms.{arm}.grid")


def normalise_settings(config: Mapping[str, Any] | None):
    """:class:`~galstar.spectra.NormaliseSettings` of config ``stellar.normalise``."""
    from galstar.spectra import NormaliseSettings

    return NormaliseSettings.from_mapping(config)


def observed_settings(arm: str, arm_config: Mapping[str, Any],
                      settings: Mapping[str, Any]):
    """The observed chain's settings for one arm (config ``stellar.arms.<arm>``,
    ``stellar.stitch``, ``stellar.normalise``, ``stellar.barycentric``,
    ``stellar.max_filled_fraction``)."""
    from galstar.spectra import ObservedSettings, ShapeSettings, StitchSettings

    shapes = ShapeSettings.from_mapping({"shapes": {arm: arm_config["shapes"]},
                                         "accept_merged": settings.get("accept_merged", True)})
    return ObservedSettings(grids={arm: arm_grid(arm_config, arm)}, shapes=shapes,
                            stitch=StitchSettings.from_mapping(settings.get("stitch")),
                            normalise=normalise_settings(settings.get("normalise")),
                            barycentric=bool(settings.get("barycentric", True)),
                            max_filled_fraction=float(settings.get("max_filled_fraction", 0.3)))


# ---------------------------------------------------------------------------- fetch


def _mock_lists(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """The files the mock's manifest lists (not a directory listing: files of an earlier
    build with other settings may remain beside them)."""
    import json

    from galstar.archives.btsettl import parse_btsettl_filename
    from galstar.archives.carmenes import parse_carmenes_filename, read_file_list

    manifest = json.loads((root / "manifest.json").read_text())
    rows = []
    for rel in sorted(manifest["files"]["btsettl"]):
        path = root / rel
        teff, logg, mh, _ = parse_btsettl_filename(path.name)
        rows.append({"teff": teff, "logg": logg, "mh": mh, "path": str(path),
                     "status": "ok", "reject_reason": ""})
    if not rows:
        raise ValueError(f"{root}/btsettl: no BT-Settl files in the stellar mock archive")
    grid = pd.DataFrame(rows)
    spectra = []
    for rel in read_file_list(root / manifest["files"]["carmenes_list"]):
        path = root / rel
        _, arm, _ = parse_carmenes_filename(path.name)
        ok = path.is_file()
        spectra.append({"arm": arm, "path": str(path), "status": "ok" if ok else "failed",
                        "reject_reason": "" if ok else "missing_file"})
    return grid, pd.DataFrame(spectra), root / manifest["files"]["labels"]


def _live_lists(dest: Path, live: Mapping[str, Any], download: Mapping[str, Any],
                nodes: Sequence[Sequence[float]], seed: int
                ) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    from galstar.archives.btsettl import fetch_btsettl_lyon
    from galstar.archives.carmenes import (
        fetch_carmenes,
        parse_carmenes_filename,
        read_file_list,
    )

    polite = dict(timeout_s=float(download["timeout_s"]),
                  max_retries=int(download["max_retries"]),
                  backoff_s=float(download["backoff_s"]), seed=seed)
    grid = fetch_btsettl_lyon(nodes, dest / "btsettl", base_url=live.get("lyon_url", ""),
                              concurrency=int(download["concurrency"]),
                              rate_per_s=float(download["rate_per_s"]), **polite)
    grid = grid.assign(status=np.where(grid["status"] == "failed", "failed", "ok"))
    urls = read_file_list(live["carmenes_file_list"])
    spectra = fetch_carmenes(urls, dest / "carmenes", concurrency=int(download["concurrency"]),
                             rate_per_s=float(download["rate_per_s"]), **polite)
    spectra["arm"] = [parse_carmenes_filename(Path(p).name)[1] for p in spectra["path"]]
    spectra = spectra.assign(status=np.where(spectra["status"] == "failed", "failed", "ok"))
    labels = Path(live["labels_csv"])
    if not labels.is_file():
        raise ValueError(f"config stellar.live.labels_csv: no such file {labels}")
    return grid, spectra, labels


def fetch_stellar(archive: str, *, grid_path: str | os.PathLike,
                  spectra_path: str | os.PathLike, labels_path: str | os.PathLike,
                  mock_root: str | os.PathLike | None = None,
                  live: Mapping[str, Any] | None = None,
                  download: Mapping[str, Any] | None = None,
                  nodes: Sequence[Sequence[float]] = (), seed: int = 0) -> dict[str, int]:
    """Write the grid and spectrum file tables and a copy of the label CSV.

    Parameters
    ----------
    archive : {"mock", "live"}
        ``mock``: list the stellar mock archive under ``mock_root``; ``live``: download
        the grid ``nodes`` (config ``stellar.live.lyon_url``) and the CARMENES files of
        ``stellar.live.carmenes_file_list`` into the directory of ``grid_path``, and copy
        ``stellar.live.labels_csv``.
    grid_path, spectra_path : path
        Parquet tables: grid (teff, logg, mh, path, status, reject_reason) and spectra
        (arm, path, status, reject_reason); failed downloads stay as rows with reasons.
    labels_path : path
        The label CSV as fetched.

    Returns
    -------
    dict
        Row counts.
    """
    if archive == "mock":
        if mock_root is None:
            raise ValueError("archive 'mock' needs the stellar mock root")
        grid, spectra, labels = _mock_lists(Path(mock_root))
    elif archive == "live":
        grid, spectra, labels = _live_lists(Path(grid_path).parent, live or {},
                                            download or {}, nodes, seed)
    else:
        raise ValueError(f"config key 'archive' must be mock or live, got {archive!r}")
    write_parquet(grid, grid_path)
    write_parquet(spectra, spectra_path)
    with atomic_path(labels_path) as tmp:
        shutil.copyfile(labels, tmp)
    counts = {"grid_files": len(grid), "grid_ok": int((grid["status"] == "ok").sum()),
              "spectra_files": len(spectra),
              "spectra_ok": int((spectra["status"] == "ok").sum())}
    log.info("stellar archive (%s): %s", archive, counts)
    return counts


# ------------------------------------------------------------------------- observed


def prepare_observed_arm(spectra: pd.DataFrame, arm: str, settings) -> tuple[pd.DataFrame,
                                                                          np.ndarray]:
    """Every ``arm`` spectrum of the fetched table through the observed chain.

    Parameters
    ----------
    spectra : pandas.DataFrame
        The fetched spectrum table (arm, path, status, reject_reason).
    arm : str
    settings : galstar.spectra.ObservedSettings

    Returns
    -------
    table : pandas.DataFrame
        One row per file of the arm: karmn (header OBJECT, else the file's folder),
        source, kept, reject_reason (``download: ...``, ``unreadable: ...`` or the chain's
        reason; ``duplicate_star`` for a second kept file of one star), row (into the
        array; -1 if rejected), filled_fraction, n_gaps, sg_window, sg_polyorder,
        seconds.
    array : numpy.ndarray
        (n_kept, n_pixels) float32 normalised flux on the arm grid.
    """
    from galstar.spectra import SpectrumFormatError, preprocess_observed, read_carmenes

    rows, flux = [], []
    seen: set[str] = set()
    for item in spectra[spectra["arm"] == arm].itertuples(index=False):
        row = {"karmn": Path(item.path).parent.name, "source": item.path, "kept": False,
               "reject_reason": "", "row": -1, "filled_fraction": np.nan, "n_gaps": -1,
               "sg_window": -1, "sg_polyorder": -1, "seconds": 0.0}
        rows.append(row)
        if item.status != "ok":
            row["reject_reason"] = f"download: {item.reject_reason}"
            continue
        t0 = time.perf_counter()
        try:
            spec = read_carmenes(item.path, arm=arm)
        except (SpectrumFormatError, OSError, ValueError) as err:
            row["reject_reason"] = f"unreadable: {err}"
            continue
        row["karmn"] = spec.object_id or row["karmn"]
        prepared = preprocess_observed(spec, settings)
        row["seconds"] = time.perf_counter() - t0
        if prepared.stitched is not None:
            row["n_gaps"] = len(prepared.stitched.gaps)
        if prepared.resampled is not None:
            row["filled_fraction"] = prepared.resampled.filled_fraction
        if not prepared.kept:
            row["reject_reason"] = prepared.reject_reason
            continue
        if row["karmn"] in seen:
            row["reject_reason"] = "duplicate_star: another file of this star was kept"
            continue
        seen.add(row["karmn"])
        row["sg_window"], row["sg_polyorder"] = prepared.normalised.choices[0]
        row["kept"], row["row"] = True, len(flux)
        flux.append(prepared.normalised.flux)
    table = pd.DataFrame(rows, columns=["karmn", "source", "kept", "reject_reason", "row",
                                        "filled_fraction", "n_gaps", "sg_window",
                                        "sg_polyorder", "seconds"])
    n_px = settings.grids[arm].n_pixels
    array = np.asarray(flux, dtype=np.float32).reshape(len(flux), n_px)
    _log_rejects(f"observed {arm}", table)
    return table, array


def _log_rejects(what: str, table: pd.DataFrame) -> None:
    codes = table.loc[~table["kept"], "reject_reason"].str.split(":").str[0]
    log.info("%s: %d of %d kept; rejected: %s", what, int(table["kept"].sum()), len(table),
             codes.value_counts().to_dict() or "none")


# ----------------------------------------------------------------------------- grid


def prepare_grid_arm(grid_files: pd.DataFrame, arm: str, grid, resolving_power: float,
                     normalise, augment: Mapping[str, Any] | None = None, seed: int = 0
                     ) -> tuple[pd.DataFrame, np.ndarray]:
    """Every grid node of the fetched table (and its noisy copies) on the arm grid.

    Parameters
    ----------
    grid_files : pandas.DataFrame
        The fetched grid table (teff, logg, mh, path, status, reject_reason).
    arm : str
    grid : galstar.spectra.ArmGrid
        The observed stars' arm grid.
    resolving_power : float
        The arm's R (config ``stellar.arms.<arm>.resolving_power``).
    normalise : galstar.spectra.NormaliseSettings
        The observed stars' settings.
    augment : mapping, optional
        ``copies`` (spectra per node, >= 1), ``noiseless`` (the first copy without
        noise), ``snr`` ([lo, hi]: each noisy copy's S/N drawn log-uniformly),
        ``rv_sigma_kms`` (each noisy copy shifted by a normal RV before the blur).
    seed : int

    Returns
    -------
    table : pandas.DataFrame
        One row per (node, copy) in node order, identical across arms: node, copy,
        teff, logg, mh, snr (inf: noiseless), rv_kms, source, kept, reject_reason.
    array : numpy.ndarray
        (n_rows, n_pixels) float32; zeros where rejected.

    Notes
    -----
    Without RV shifts the blur runs once per node and copies differ only by noise, added
    on the arm grid before normalisation as in an observation. Noise is seeded by (seed, node, copy,
    arm), so a node's copies are the same whichever nodes the table holds.
    """
    from galstar.spectra import SpectrumFormatError, add_noise, degrade_to_grid, read_btsettl
    from galstar.spectra import normalise as normalise_flux

    augment = dict(augment or {})
    copies = int(augment.get("copies", 1))
    noiseless = bool(augment.get("noiseless", True))
    snr_lo, snr_hi = (float(v) for v in augment.get("snr", (50.0, 200.0)))
    rv_sigma = float(augment.get("rv_sigma_kms", 0.0))
    arm_index = ARMS.index(arm) if arm in ARMS else 9
    wave = grid.wavelength()
    rows, flux = [], np.zeros((len(grid_files) * copies, grid.n_pixels), dtype=np.float32)
    for node, item in enumerate(grid_files.itertuples(index=False)):
        base = {"node": node, "teff": float(item.teff), "logg": float(item.logg),
                "mh": float(item.mh), "source": item.path}
        degraded, reason = None, ""
        if item.status != "ok":
            reason = f"download: {item.reject_reason}"
        else:
            try:
                w, f = read_btsettl(item.path)
                degraded = degrade_to_grid(w, f, grid, resolving_power)
                if not np.all(np.isfinite(degraded)):
                    reason = (f"grid_coverage: the model does not cover {grid.start:g}-"
                              f"{grid.stop:g} A")
            except (SpectrumFormatError, OSError, ValueError) as err:
                reason = f"unreadable: {err}"
        for copy in range(copies):
            i = node * copies + copy
            row = {**base, "copy": copy, "snr": np.inf, "rv_kms": 0.0, "kept": False,
                   "reject_reason": reason}
            rows.append(row)
            if reason:
                continue
            spectrum = degraded
            if copy > 0 or not noiseless:
                # the RV draw does not depend on the arm: one star, one velocity
                rv = float(np.random.default_rng([int(seed), 7118, node, copy]).normal(
                    0.0, rv_sigma)) if rv_sigma > 0 else 0.0
                rng = np.random.default_rng([int(seed), 7117, node, copy, arm_index])
                row["snr"] = float(np.exp(rng.uniform(np.log(snr_lo), np.log(snr_hi))))
                if rv:
                    spectrum = degrade_to_grid(w, f, grid, resolving_power, rv_kms=rv)
                    row["rv_kms"] = rv
                spectrum, _ = add_noise(spectrum, row["snr"], rng)
            if not np.all(np.isfinite(spectrum)):
                row["reject_reason"] = "grid_coverage: the shifted model leaves the arm grid"
                continue
            try:
                flux[i] = normalise_flux(wave, spectrum, normalise).flux
            except (ValueError, TypeError) as err:  # TypeError: numpy fit of no pixel
                row["reject_reason"] = f"normalisation: {err}"
                continue
            row["kept"] = bool(np.all(np.isfinite(flux[i])))
            if not row["kept"]:
                row["reject_reason"] = "normalisation: non-finite output"
                flux[i] = 0.0
    table = pd.DataFrame(rows, columns=["node", "copy", "teff", "logg", "mh", "snr", "rv_kms",
                                        "source", "kept", "reject_reason"])
    _log_rejects(f"grid {arm}", table)
    return table, flux


# --------------------------------------------------------------------------- sample


def build_sample(labels_csv: str | os.PathLike, observed: Mapping[str, str | os.PathLike],
                 label_settings: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per star: its labels and each arm's array row, or why not.

    Parameters
    ----------
    labels_csv : path
        The fetched literature labels.
    observed : mapping of arm to path
        The observed-arm tables (:func:`prepare_observed_arm`).
    label_settings : mapping, optional
        ``bounds`` ({label: [lo, hi]}) and ``sentinels`` (config ``stellar.labels``);
        every star needs all three labels, so that every target set and regime is
        scored on the same stars.

    Returns
    -------
    pandas.DataFrame
        Sorted by karmn: object_id (0..n-1), karmn, teff, logg, mh, label_reason
        (``no_label`` for an observed star without a row, else the reader's reason),
        and per arm ``<arm>_row`` (-1: none) and ``<arm>_reason`` (``no_spectrum`` for a
        labelled star without a file of that arm, else the arm table's reason).
    """
    from galstar.spectra import LabelSettings, read_labels

    cfg = dict(label_settings or {})
    settings = LabelSettings(
        required=LABELS,
        bounds={k: tuple(map(float, v)) for k, v in (cfg.get("bounds") or {}).items()}
        or LabelSettings().bounds,
        sentinels=tuple(float(v) for v in cfg.get("sentinels", (-9999.0,))))
    labels = read_labels(labels_csv, settings)
    frames = {arm: read_parquet(p) for arm, p in observed.items()}
    stars = set(labels.kept["karmn"]) | set(labels.rejects["karmn"])
    for frame in frames.values():
        stars |= set(frame["karmn"])
    stars.discard("")
    out = pd.DataFrame({"karmn": sorted(stars)})
    out.insert(0, "object_id", np.arange(len(out), dtype=np.int64))
    kept = labels.kept.set_index("karmn")
    for name in LABELS:
        out[name] = out["karmn"].map(kept[name]).astype(float)
    reasons = labels.rejects.drop_duplicates("karmn").set_index("karmn")["reject_reason"]
    out["label_reason"] = np.where(out["karmn"].isin(kept.index), "",
                                   out["karmn"].map(reasons).fillna("no_label"))
    for arm, frame in frames.items():
        kept_rows = frame[frame["kept"]].set_index("karmn")["row"]
        first_reason = frame[~frame["kept"]].drop_duplicates("karmn").set_index(
            "karmn")["reject_reason"]
        out[f"{arm}_row"] = out["karmn"].map(kept_rows).fillna(-1).astype(np.int64)
        reason = out["karmn"].map(first_reason).fillna("no_spectrum")
        out[f"{arm}_reason"] = np.where(out[f"{arm}_row"] >= 0, "", reason)
    return out


def write_sample(labels_csv: str | os.PathLike, observed: Mapping[str, str | os.PathLike],
                 label_settings: Mapping[str, Any] | None, path: str | os.PathLike
                 ) -> pd.DataFrame:
    """:func:`build_sample`, written atomically, counts logged."""
    sample = build_sample(labels_csv, observed, label_settings)
    write_parquet(sample, path)
    n_label = int((sample["label_reason"] == "").sum())
    log.info("%d stars, %d with usable labels; label rejects: %s", len(sample), n_label,
             sample.loc[sample["label_reason"] != "", "label_reason"].str.split(":").str[0]
             .value_counts().to_dict() or "none")
    for arm in observed:
        both = int(((sample["label_reason"] == "") & (sample[f"{arm}_row"] >= 0)).sum())
        log.info("%s: %d stars with labels and a kept spectrum", arm, both)
    return sample


def live_grid_nodes(live: Mapping[str, Any] | None) -> list[list[float]]:
    """The grid nodes a live run downloads: config ``stellar.live.grid`` ranges
    ``{teff: [lo, hi, step], logg: [...], mh: [...]}`` (inclusive); none for the mock."""
    spec = (live or {}).get("grid")
    if not spec:
        return []
    axes = []
    for key in ("teff", "logg", "mh"):
        lo, hi, step = (float(v) for v in spec[key])
        axes.append(np.round(np.arange(lo, hi + step / 2, step), 6))
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).tolist()


def write_rejects(sample: pd.DataFrame, observed: Mapping[str, str | os.PathLike],
                  path: str | os.PathLike) -> pd.DataFrame:
    """Every rejected label row and spectrum file, one row each: stage (``labels`` or
    ``observed``), karmn, arm ("" for labels), source, reject_reason, code (the part
    before the first colon)."""
    from galstar.evaluation.evaluate import write_csv

    parts = [pd.DataFrame({"stage": "labels", "karmn": sample["karmn"], "arm": "",
                           "source": "", "reject_reason": sample["label_reason"]})
             .query("reject_reason != ''")]
    for arm, p in observed.items():
        frame = read_parquet(p)
        frame = frame[~frame["kept"]]
        parts.append(pd.DataFrame({"stage": "observed", "karmn": frame["karmn"], "arm": arm,
                                   "source": frame["source"],
                                   "reject_reason": frame["reject_reason"]}))
    table = pd.concat(parts, ignore_index=True)
    table["code"] = table["reject_reason"].str.split(":").str[0]
    write_csv(table, path)
    return table
