"""Snakemake adapter: Stage 1 MPA-JHU DR7 SFR table (galstar.archives.sdss_acquire.acquire_dr7;
the files from galstar.mock.sources.fetch_dr7)."""

from galstar.logs import rule_log

with rule_log(snakemake):  # noqa: F821  (imports inside: their errors go to the log too)
    from pathlib import Path

    from galstar.archives.sdss_acquire import acquire_dr7
    from galstar.mock.sources import fetch_dr7

    p = dict(snakemake.params.items())  # noqa: F821
    d = p["download"]
    mock = p["archive"] == "mock"
    names = None if mock else p.get("dr7_names")
    acquire_dr7(
        snakemake.output[0],  # noqa: F821
        lambda dest: fetch_dr7(
            p["archive"], dest,
            mock_root=Path(snakemake.input.mock).parent if mock else None,  # noqa: F821
            base_url=p.get("dr7_url"), names=names, timeout_s=d["timeout_s"],
            max_retries=d["max_retries"], backoff_s=d["backoff_s"],
            rate_per_s=d["rate_per_s"], seed=p["seed"]),
        names=names,
    )
