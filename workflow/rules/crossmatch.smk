# Stage 2: cuts, streamed cross-match, de-duplication, shards and splits
# (docs/contracts.md, Stage 2). The compute rule writes tables; the plot rule only reads
# them, so restyling the figure never reruns the cross-match.


# Every config value that changes the cross-matched sample (params rerun trigger).
CROSSMATCH = dict(
    radius_arcsec=cfg("galaxies", "crossmatch", "radius_arcsec"),
    sn_median_r_min=cfg("galaxies", "crossmatch", "sn_median_r_min"),
    lgm_range=cfg("galaxies", "crossmatch", "lgm_range"),
    specsfr_range=cfg("galaxies", "crossmatch", "specsfr_range"),
    dedup_radius_arcsec=cfg("galaxies", "crossmatch", "dedup_radius_arcsec"),
    split=cfg("galaxies", "crossmatch", "split"),
    n_shards=cfg("shards"),
    seed=cfg("seed"),
)


rule crossmatch:
    input:
        mpa=f"{RAW}/mpajhu.parquet",
        sweeps=f"{RAW}/dr9_sweeps.txt",
    output:
        catalog=paths.CROSSMATCH,
        cutflow=report_table(
            paths.CUTFLOW,
            caption="../report/cutflow.rst",
            category="Catalogue",
            labels={"table": "cut-flow: rows left after each cut"},
        ),
        rejects=paths.CATALOG_REJECTS,
        shards=shard_paths(paths.CATALOG_SHARD),
    params:
        **CROSSMATCH,
        # rows of a sweep file read at a time: bounds memory, never changes the result
        chunk_rows=cfg("galaxies", "crossmatch", "chunk_rows"),
    log:
        "logs/catalog/crossmatch.log",
    benchmark:
        "benchmarks/catalog/crossmatch.tsv"
    conda:
        "../../envs/data.yaml"
    priority: GALAXY_CHAIN_PRIORITY
    script:
        "../scripts/crossmatch.py"


rule crossmatch_separation_plot:
    input:
        catalog=paths.CROSSMATCH,
    output:
        report(
            paths.SEPARATION_FIG,
            caption="../report/separation.rst",
            category="Catalogue",
            labels={"figure": "MPA-JHU to DR9 separations"},
        ),
    params:
        radius_arcsec=CROSSMATCH["radius_arcsec"],
    log:
        "logs/catalog/separation_plot.log",
    benchmark:
        "benchmarks/catalog/separation_plot.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/plot_separation.py"
