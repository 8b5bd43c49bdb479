# Stage 0: the simulated universe written as a mock archive (docs/contracts.md, Stage 0).
# Archive side only: the pipeline reads what acquisition fetches from it, never the
# universe or the truth (those are for scoring).


rule simulate_mock_archive:
    output:
        # galSpec.fits is written last: acquisition uses it as the completion marker
        galspec=f"{MOCK_ROOT}/skyserver/galSpec.fits",
        sweeps=directory(f"{MOCK_ROOT}/dr9"),
        universe=f"{MOCK_ROOT}/universe.parquet",
        galaxies=f"{MOCK_ROOT}/truth/galaxies.parquet",
        spectra=f"{MOCK_ROOT}/truth/spectra.parquet",
        pairs=f"{MOCK_ROOT}/truth/pairs.parquet",
        manifest=f"{MOCK_ROOT}/manifest.json",
    params:
        n_galaxies=cfg("mock", "n_galaxies"),
        n_field=cfg("mock", "n_field"),
        n_stars=cfg("mock", "n_stars"),
        seed=cfg("seed"),
        options=cfg("mock", "options"),
    log:
        "logs/mock/simulate_mock_archive.log",
    benchmark:
        "benchmarks/mock/simulate_mock_archive.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/simulate_mock_archive.py"


if ARCHIVE == "mock" and GALAXY_METHODS:  # a killed rebuild must not go unnoticed
    STAGE_TARGETS.append(lambda: [*rules.simulate_mock_archive.output, paths.MOCK_OVERVIEW])


rule plot_mock_overview:
    input:
        galaxies=f"{MOCK_ROOT}/truth/galaxies.parquet",
        universe=f"{MOCK_ROOT}/universe.parquet",
    output:
        report(
            paths.MOCK_OVERVIEW,
            caption="../report/mock_overview.rst",
            category="Mock archive",
            labels={"figure": "the simulated galaxies and example cutouts"},
        ),
    params:
        n_cutouts=6,
        seed=cfg("seed"),
    log:
        "logs/mock/plot_mock_overview.log",
    benchmark:
        "benchmarks/mock/plot_mock_overview.tsv"
    conda:
        "../../envs/images.yaml"
    script:
        "../scripts/plot_mock_overview.py"
