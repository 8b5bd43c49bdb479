"""Snakemake adapter: Stage 1 Pan-STARRS1 grizy cutouts of one shard
(galstar.archives.panstarrs.acquire_ps1; the source from galstar.mock.sources)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.archives.panstarrs import acquire_ps1
    from galstar.mock.sources import ps1_fetcher

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    mock = p["archive"] == "mock"
    fetch = ps1_fetcher(
        p["archive"], size=p["size"],
        mock_root=Path(snakemake.input.mock).parent if mock else None,  # noqa: F821
        filenames_url=p.get("filenames_url"), fitscut_url=p.get("fitscut_url"),
        concurrency=d["concurrency"], rate_per_s=d["rate_per_s"], timeout_s=d["timeout_s"],
        max_retries=d["max_retries"], backoff_s=d["backoff_s"], seed=p["seed"])
    acquire_ps1(snakemake.input.shard, snakemake.output[0], fetch)  # noqa: F821
