"""An interrupted job's deleted outputs are noticed by a plain rerun.

Snakemake removes a job's outputs when the job starts; a ``--forcerun train`` killed
mid-training leaves the model gone while its metrics, tables and figures remain. The
model files (and every product later files derive from) are targets of ``rule all``,
so the next plain ``snakemake`` retrains the model and rebuilds what depends on it.

No pipeline job runs: the workdir is marked complete with ``snakemake --touch`` and the
interruption is simulated by deleting what Snakemake deletes when the job starts.
"""

from __future__ import annotations

from slurm.workflow import copy_workflow, mark_complete, plan

TRAIN_OUTPUTS = ("model.keras", "scaler.json", "history.csv", "config.yaml")


def test_killed_forcerun_train_is_rebuilt_by_a_plain_rerun(tmp_path):
    workdir = copy_workflow(tmp_path)
    mark_complete(workdir)
    assert [j.rule for j in plan(workdir)] == []

    model_dir = workdir / "results/galeffnet/models/galeffnet"
    for name in TRAIN_OUTPUTS:  # what the started train job had removed
        (model_dir / name).unlink()
    jobs = [j for j in plan(workdir) if j.rule != "all"]

    trains = [j for j in jobs if j.rule == "train"]
    assert [j.output for j in trains] == [
        [f"results/galeffnet/models/galeffnet/{n}" for n in TRAIN_OUTPUTS]]
    assert trains[0].reason.startswith("Missing output files")
    # everything derived from the model (with the report pages of its tables), nothing else
    rebuilt = {j.rule for j in jobs if not j.rule.startswith("table_html_")}
    assert "table_html_galeffnet_metrics_table1" in {j.rule for j in jobs}
    assert rebuilt == {"train", "predict", "evaluate", "plot_learning_curve",
                       "galeffnet_breakdown", "galeffnet_figures", "galeffnet_table1",
                       "calibration_summary", "package_model"}
    assert all(j.reason.startswith("Input files updated by another job")
               for j in jobs if j.rule != "train")
    outputs = [o for j in jobs for o in j.output]
    assert "results/galeffnet/predictions/galeffnet.parquet" in outputs
    assert "results/galeffnet/metrics/galeffnet.csv" in outputs
    assert not [o for o in outputs if "galeffnet-z" in o or "sigma_sfr" in o]
