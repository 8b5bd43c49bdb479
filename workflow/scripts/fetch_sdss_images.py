"""Snakemake adapter: Stage 1 SDSS ugriz cutouts of one shard
(galstar.archives.sdss_acquire.acquire_sdss_images; the source from galstar.mock.sources)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.archives.sdss_acquire import acquire_sdss_images
    from galstar.mock.sources import sdss_images_fetcher

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    mock = p["archive"] == "mock"
    fetch = sdss_images_fetcher(
        p["archive"], size=p["size"], pixscale=p["pixscale"],
        mock_root=Path(snakemake.input.mock).parent if mock else None,  # noqa: F821
        base_url=p.get("sas_url"), release=p.get("release", "dr17"),
        data_release=p.get("data_release", 17), concurrency=d["concurrency"],
        rate_per_s=d["rate_per_s"], timeout_s=d["timeout_s"], max_retries=d["max_retries"],
        backoff_s=d["backoff_s"], seed=p["seed"])
    acquire_sdss_images(snakemake.input.shard, snakemake.output[0], fetch)  # noqa: F821
