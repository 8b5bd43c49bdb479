"""Snakemake adapter: Stage 1 SDSS spectra of one shard
(galstar.archives.sdss_acquire.acquire_sdss_spectra; the source from galstar.mock.sources)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.archives.sdss_acquire import acquire_sdss_spectra
    from galstar.mock.sources import sdss_spectra_fetcher

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    mock = p["archive"] == "mock"
    fetch = sdss_spectra_fetcher(
        p["archive"], mock_root=Path(snakemake.input.mock).parent if mock else None,  # noqa: F821
        base_url=p.get("sas_url"), release=p.get("release", "dr17"),
        concurrency=d["concurrency"], rate_per_s=d["rate_per_s"], timeout_s=d["timeout_s"],
        max_retries=d["max_retries"], backoff_s=d["backoff_s"], seed=p["seed"])
    acquire_sdss_spectra(snakemake.input.shard, snakemake.output[0], fetch)  # noqa: F821
