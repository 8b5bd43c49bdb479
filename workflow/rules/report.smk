# The HTML report (snakemake --report): its landing page, the run's summary page and
# one HTML page per table registered with report_table() (common.smk). Included after
# every rule file, so that every method's tables are registered by then.

from galstar.provenance import code_version


report: "../report/workflow.rst"


CODE_VERSION = code_version(workflow.basedir)

for _first, _second in report_table_order():
    workflow.ruleorder(_first, _second)


for _table in REPORT_TABLES:

    rule:
        name:
            _table["rule_name"]
        input:
            _table["csv"],
        output:
            report(
                _table["html"],
                caption=_table["caption"],
                category=_table["category"],
                subcategory=_table["subcategory"],
                labels=_table["labels"],
            ),
        params:
            # the heading, its wildcards filled (bound now: _table changes with the loop)
            title=lambda wildcards, _title=_table["title"]: paths.fill(
                _title, **dict(wildcards.items())
            ),
        localrule: True
        log:
            _table["log"],
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/table_html.py"


rule run_summary:
    output:
        report(
            paths.RUN_SUMMARY,
            caption="../report/run_summary.rst",
            category="Run",
            labels={"page": "code version, archive, methods and their models"},
        ),
    params:
        code=CODE_VERSION,
        archive=ARCHIVE,
        methods={m: model_names(m) for m in METHODS},
    localrule: True
    log:
        "logs/report/run_summary.log",
    benchmark:
        "benchmarks/report/run_summary.tsv"
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/run_summary.py"
