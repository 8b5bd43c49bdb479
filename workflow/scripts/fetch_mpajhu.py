"""Snakemake adapter: Stage 1 MPA-JHU rows (galstar.mock.sources.fetch_mpajhu)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from galstar.mock.sources import fetch_mpajhu

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    fetch_mpajhu(
        p["archive"],
        snakemake.output[0],  # noqa: F821
        mock_table=snakemake.input.mock if p["archive"] == "mock" else None,  # noqa: F821
        url=p.get("skyserver_url"),
        data_release=p.get("data_release", 17),
        page_rows=p.get("page_rows", 200_000),
        push_cuts=p.get("push_cuts", False),
        sn_median_r_min=p["sn_median_r_min"],
        timeout_s=d["timeout_s"],
        max_retries=d["max_retries"],
        backoff_s=d["backoff_s"],
        rate_per_s=d["rate_per_s"],
        seed=p["seed"],
    )
