"""The config schema accepts the shipped configs and stops a run on a bad key/value,
naming it, before any job starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if name != "config.yaml":  # applied over the demo with --configfile, as a user does
        from snakemake.utils import update_config

        update_config(config, yaml.safe_load((REPO / "config" / name).read_text()))
    from galstar.config_checks import remove_disabled

    remove_disabled(config)  # as the Snakefile does before validating
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))


def test_each_method_schema_is_closed():
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["sigma_sfr"]["experiments"]["resnet"]["widhts"] = [64]
    with pytest.raises(Exception, match="widhts"):
        validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))


def _dry_run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_misspelt_key_stops_the_run_naming_it(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["galaxies"]["crossmatch"]["radius_arcsecs"] = 3.0
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "radius_arcsecs" in result.stdout + result.stderr
    assert "Job stats" not in result.stdout  # stopped before planning any job


def test_bad_value_stops_the_run_naming_it(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["archive"] = "mok"
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "mok" in out and "archive" in out


def test_unknown_mock_option_stops_the_plan_before_any_job(tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["mock"]["options"]["densty_per_deg2"] = 100
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "mock.options.densty_per_deg2" in result.stdout + result.stderr
    assert "Job stats" not in result.stdout


@pytest.mark.parametrize("section, key, value, named", [
    (("galaxies", "preprocess"), "crop", 200, "galaxies.preprocess.crop"),
    (("galeffnet", "experiments", "galeffnet"), "weights", "imagnet",
     "galeffnet.experiments.galeffnet.weights"),
])
def test_cross_field_value_stops_the_plan_before_any_job(tmp_path, section, key, value, named):
    """Values the schema accepts but the workflow cannot run with (galstar.config_checks;
    each check is tested alone in tests/unit/test_config_checks.py)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    node = config
    for part in section:
        node = node[part]
    node[key] = value
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
    assert "Job stats" not in result.stdout


def _plan_with(tmp_path: Path, configfile: str, methods: str) -> str:
    """The dry-run log of the demo with ``configfile`` (YAML text) and ``methods``."""
    path = tmp_path / "extra.yaml"
    path.write_text(configfile)
    result = subprocess.run(
        [*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(path),
         "--config", f"methods=[{methods}]"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    return out


def test_command_line_config_is_merged_over_the_demo(tmp_path):
    """--configfile and --config merge over config/config.yaml, key by key."""
    out = _plan_with(tmp_path, "shards: 2\n", "sigma_sfr")
    assert "shards/shard-001.parquet" in out and "shard-002" not in out
    assert "rule sigma_sfr_sample" in out and "galeffnet" not in out


def test_a_null_experiment_in_a_configfile_drops_it(tmp_path):
    """A config file cannot delete a key by merging, so ``name: null`` removes a named
    entry: here GalEffNet's redshift variant and its like-for-like baseline."""
    out = _plan_with(tmp_path, "galeffnet:\n  experiments: {galeffnet-z: null}\n"
                               "  baselines: {random_forest_z: null}\n", "galeffnet")
    said = [line for line in out.splitlines() if line.startswith("config: ")]
    assert said == ["config: galeffnet.experiments.galeffnet-z is null: not built",
                    "config: galeffnet.baselines.random_forest_z is null: not built"]
    plan = "\n".join(line for line in out.splitlines() if line not in said)
    assert "results/galeffnet/models/galeffnet/model.keras" in plan
    assert "galeffnet-z" not in plan and "random_forest_z" not in plan
