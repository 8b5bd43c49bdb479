"""Snakemake adapter: Stage 1 DR9 sweep list (galstar.mock.sources.fetch_dr9_sweeps)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.mock.skyserver import mock_root_of
    from galstar.mock.sources import fetch_dr9_sweeps

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    mock = p["archive"] == "mock"
    fetch_dr9_sweeps(
        p["archive"],
        snakemake.input.mpajhu,  # noqa: F821
        snakemake.output[0],  # noqa: F821
        regions=p["regions"],
        mock_root=mock_root_of(snakemake.input.mock) if mock else None,  # noqa: F821
        base_url=p.get("sweep_url"),
        version=p.get("sweep_version", "9.0"),
        concurrency=min(2, d["concurrency"]),  # sweeps are GB each: few at a time
        rate_per_s=d["rate_per_s"],
        timeout_s=d["timeout_s"],
        max_retries=d["max_retries"],
        backoff_s=d["backoff_s"],
        seed=p["seed"],
    )
