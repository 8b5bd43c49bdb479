"""Stellar targets: a list of CARMENES spectrum files or URLs, fetched (URLs, resumably)
and tabled in the fetch rule's format, so that the training's observed chain
(:func:`galstar.methods.stellar_data.prepare_observed_arm`) prepares them (the data env:
no Keras here; :mod:`.inputs` reads them back).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.inference.targets import duplicate_of, read_spectrum_list
from galstar.io import write_parquet

__all__ = ["write_spectrum_table"]

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
