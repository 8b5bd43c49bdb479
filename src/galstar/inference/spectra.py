"""Stellar targets: a list of CARMENES spectrum files or URLs, fetched (URLs, resumably)
and tabled in the fetch rule's format, so that the training's observed chain
(:func:`galstar.methods.stellar_data.prepare_observed_arm`) prepares them; then the
prepared arms read back as one split.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.inference.targets import duplicate_of, read_spectrum_list
from galstar.io import read_parquet, write_parquet
from galstar.training.data import ArraySource, Split

__all__ = ["write_spectrum_table", "load_spectrum_split"]

log = logging.getLogger(__name__)


def _arm_of(path: str) -> str:
    from galstar.archives.carmenes import parse_carmenes_filename

    try:
        return parse_carmenes_filename(Path(path).name)[1]
    except ValueError:
        return ""


def write_spectrum_table(targets_path: str | os.PathLike, out_path: str | os.PathLike,
                         files_path: str | os.PathLike, *, arms: Sequence[str],
                         cache_dir: str | os.PathLike, download: Mapping[str, float],
                         seed: int = 0) -> pd.DataFrame:
    """Write the run's target table and the file table the observed chain reads.

    ``out_path``: one row per input row (input_row, input_id, spectrum, arm, path,
    status, reject_reason, duplicate_of). ``files_path``: the distinct usable files in
    the fetch rule's format (arm, path, status, reject_reason). URLs are downloaded into
    ``cache_dir`` (valid cached files are not fetched again); local files must exist. A
    file of an arm the model does not read is rejected ``wrong_arm``; the same file
    twice is prepared once (``duplicate_of``: its first input row).
    """
    table = read_spectrum_list(targets_path)
    table["path"] = table["spectrum"]
    urls = [u for u, r in zip(table["spectrum"], table["reject_reason"], strict=True)
            if not r and u.startswith(("http://", "https://"))]
    if urls:
        from galstar.archives.carmenes import fetch_carmenes

        unique = list(dict.fromkeys(urls))
        fetched = fetch_carmenes(unique, cache_dir, concurrency=int(download["concurrency"]),
                                 rate_per_s=float(download["rate_per_s"]),
                                 timeout_s=float(download["timeout_s"]),
                                 max_retries=int(download["max_retries"]),
                                 backoff_s=float(download["backoff_s"]), seed=seed)
        by_url = {u: row for u, row in zip(unique, fetched.itertuples(index=False),
                                           strict=True)}
        for i in np.flatnonzero(table["spectrum"].isin(unique).to_numpy()):
            row = by_url[table.at[i, "spectrum"]]
            table.at[i, "path"] = row.path
            if row.status != "ok":
                table.at[i, "reject_reason"] = f"download_failed: {row.reject_reason}"
    status, arm = [], []
    for path, reason in zip(table["path"], table["reject_reason"], strict=True):
        a = _arm_of(path) if path else ""
        arm.append(a)
        if reason:
            status.append("failed")
        elif not Path(path).is_file():
            status.append("failed")
        else:
            status.append("ok")
    table["arm"], table["status"] = arm, status
    reasons = table["reject_reason"].to_numpy(dtype=object)
    for i, (ok, path, a) in enumerate(zip(status, table["path"], arm, strict=True)):
        if reasons[i]:
            continue
        if ok != "ok":
            reasons[i] = f"missing_file: {path}"
        elif a not in arms:
            reasons[i] = (f"wrong_arm: {Path(path).name} is not a CARMENES "
                          f"{'/'.join(arms)} file")
    table["reject_reason"] = reasons
    table["status"] = np.where(reasons == "", "ok", "failed")
    usable = (table["reject_reason"] == "").to_numpy()
    table["duplicate_of"] = duplicate_of(table["path"].tolist(), usable)
    write_parquet(table, out_path)
    distinct = usable & (table["duplicate_of"] < 0).to_numpy()
    write_parquet(table.loc[distinct, ["arm", "path", "status", "reject_reason"]]
                  .reset_index(drop=True), files_path)
    log.info("%d spectrum targets: %d usable (%d distinct files)", len(table),
             int(usable.sum()), int((usable & (table["duplicate_of"] < 0)).sum()))
    return table


def load_spectrum_split(observed: Mapping[str, tuple[str, str]], targets: Sequence[str]
                        ) -> tuple[Split, pd.DataFrame]:
    """The kept spectra of each arm as one split, keyed by arm.

    Parameters
    ----------
    observed : mapping
        Arm -> (table path, array path) of the prepared arm.

    Returns
    -------
    split : Split
        One object per distinct usable file kept by the chain (inputs (n, L, 1) per arm).
    prepared : pandas.DataFrame
        Per distinct file (``path``): karmn, kept, reject_reason, row and the chain's
        flags (filled_fraction, n_gaps, sg_window, sg_polyorder), for every arm.
    """
    if len(observed) != 1:
        raise ValueError("predicting for targets supports single-arm stellar models; "
                         f"this model reads arms {sorted(observed)}")
    (arm, (table_path, array_path)), = observed.items()
    prepared = read_parquet(table_path).rename(columns={"source": "path"})
    array = np.load(array_path, mmap_mode="r", allow_pickle=False)
    kept = prepared[prepared["kept"].to_numpy(dtype=bool)].reset_index(drop=True)
    x = np.asarray(array[kept["row"].to_numpy(dtype=np.int64)])[:, :, None]
    labels = np.full((len(kept), len(targets)), np.nan)
    table = kept.assign(object_id=np.arange(len(kept), dtype=np.int64), split="target")
    return Split({arm: ArraySource(x)}, labels, table, tuple(targets)), prepared
