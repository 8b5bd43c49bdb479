"""Snakemake adapter: Stage 1 cutouts of one shard (galstar.archives.acquire.fetch_cutouts;
the source, mock or live, from galstar.mock.sources)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.archives.acquire import fetch_cutouts
    from galstar.mock.skyserver import mock_root_of
    from galstar.mock.sources import cutout_source, cutout_source_key

    p = dict(snakemake.params.items())  # noqa: F821
    d, c = p["download"], p["cutout"]
    mock = p["archive"] == "mock"
    request = dict(layer=c["layer"], pixscale=c["pixscale"], bands=c["bands"], size=c["size"],
                   mock_root=mock_root_of(snakemake.input.mock) if mock else None,  # noqa: F821
                   cutout_url=p.get("cutout_url"))
    source = cutout_source(p["archive"], timeout_s=d["timeout_s"], **request)
    fetch_cutouts(
        snakemake.input.shard,  # noqa: F821
        None,  # the cache beside the manifest: resources/{archive}/cutouts/cache/shard-XXX
        snakemake.output[0],  # noqa: F821
        source,
        size=c["size"],
        bands=c["bands"],
        concurrency=p["concurrency"],
        rate_per_s=None if mock else d["rate_per_s"],  # the in-process mock is no server
        max_retries=d["max_retries"],
        backoff_s=d["backoff_s"],
        seed=p["seed"],
        source_key=cutout_source_key(p["archive"], **request),
    )
