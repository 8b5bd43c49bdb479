"""The cross-field config checks (galstar.config_checks): each bad value is caught, with
its key named, and the shipped configs pass."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from galstar.config_checks import ConfigError, check_config, remove_disabled, selected_methods

REPO = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((REPO / "config/config.yaml").read_text())


def _paper() -> dict:
    from snakemake.utils import update_config

    config = copy.deepcopy(DEMO)
    update_config(config, yaml.safe_load((REPO / "config/paper.yaml").read_text()))
    remove_disabled(config)  # as the Snakefile does before its checks
    return config


@pytest.mark.parametrize("config", [DEMO, _paper()], ids=["demo", "paper"])
def test_shipped_configs_pass(config):
    check_config(copy.deepcopy(config))


def _problems(change) -> list[str]:
    config = copy.deepcopy(DEMO)
    change(config)
    with pytest.raises(ConfigError) as err:
        check_config(config)
    return err.value.problems


def test_crop_larger_than_the_cutout():
    problems = _problems(lambda c: c["galaxies"]["preprocess"].update(crop=200))
    assert len(problems) == 1 and problems[0].startswith("galaxies.preprocess.crop:")
    assert "200" in problems[0] and "152" in problems[0]


def test_crop_equal_to_the_cutout_passes():
    config = copy.deepcopy(DEMO)
    config["galaxies"]["preprocess"]["crop"] = config["galaxies"]["cutout"]["size"]
    check_config(config)


def test_unknown_mock_option():
    problems = _problems(lambda c: c["mock"]["options"].update(densty_per_deg2=100))
    assert len(problems) == 1 and "mock.options.densty_per_deg2" in problems[0]


def test_bad_mock_option_value():
    problems = _problems(lambda c: c["mock"]["options"].update(psf_fwhm_range_arcsec=[1.6, 1.1]))
    assert problems == ["mock.options.psf_fwhm_range_arcsec: must be 0 < lo <= hi, "
                        "got (1.6, 1.1)"]


def test_misspelt_weights_named_with_a_suggestion():
    problems = _problems(
        lambda c: c["galeffnet"]["experiments"]["galeffnet"].update(weights="imagnet"))
    assert problems == [problems[0]]
    assert problems[0].startswith("galeffnet.experiments.galeffnet.weights:")
    assert "did you mean 'imagenet'" in problems[0]


def test_weights_file_that_exists_passes(tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    weights.write_bytes(b"")
    config = copy.deepcopy(DEMO)
    config["galeffnet"]["experiments"]["galeffnet"]["weights"] = str(weights)
    check_config(config)
    config["galeffnet"]["experiments"]["galeffnet"]["weights"] = str(tmp_path / "missing.h5")
    with pytest.raises(ConfigError, match="galeffnet.experiments.galeffnet.weights"):
        check_config(config)


def test_unsorted_size_bins():
    problems = _problems(
        lambda c: c["galeffnet"]["evaluation"].update(size_bins_arcsec=[0, 3, 2, 4]))
    assert problems == ["galeffnet.evaluation.size_bins_arcsec: bin edges must strictly "
                        "increase, got [0, 3, 2, 4]"]


def test_repeated_redshift_bin_edge():
    problems = _problems(
        lambda c: c["galeffnet"]["evaluation"].update(redshift_bins=[0, 0.1, 0.1, 0.3]))
    assert len(problems) == 1 and problems[0].startswith("galeffnet.evaluation.redshift_bins:")


@pytest.mark.parametrize("key", ["lgm_range", "specsfr_range"])
def test_reversed_range(key):
    problems = _problems(lambda c: c["galaxies"]["crossmatch"].update(
        {key: c["galaxies"]["crossmatch"][key][::-1]}))
    assert len(problems) == 1 and problems[0].startswith(f"galaxies.crossmatch.{key}:")


def test_reversed_range_deep_in_a_method_section():
    problems = _problems(lambda c: c["galeffnet"]["training"].update(lr_range=[1.0, 0.1]))
    # the schema closes the section, but the order check looks everywhere by key name
    assert problems == ["galeffnet.training.lr_range: (min, max) is reversed, got [1.0, 0.1]"]


def test_repeated_interval_level():
    problems = _problems(lambda c: c["evaluation"].update(interval_levels=[0.68, 0.68]))
    assert problems == ["evaluation.interval_levels: levels must be distinct, got [0.68, 0.68]"]


def test_resolution_above_the_crop():
    problems = _problems(lambda c: c["galaxies"]["preprocess"].update(crop=32))
    # every experiment reads 64 px images: upsampled from 32
    assert sorted(p.split(":")[0] for p in problems) == [
        "galeffnet.experiments.galeffnet-z.resolution",
        "galeffnet.experiments.galeffnet.resolution"]


def test_sigma_sfr_baseline_feature_missing_from_the_sample():
    def change(config):
        config["sigma_sfr"]["features"] = ["mag_r", "g_r", "z"]
    problems = _problems(change)
    assert len(problems) == 1 and problems[0].startswith("sigma_sfr.baselines.hgb.features:")


def test_listed_method_without_a_section():
    def change(config):
        del config["sigma_sfr"]
    problems = _problems(change)
    assert problems == ["methods: 'sigma_sfr' is listed but the config has no "
                        "'sigma_sfr:' section"]


def test_every_problem_is_reported_at_once():
    def change(config):
        config["galaxies"]["preprocess"]["crop"] = 200
        config["galaxies"]["crossmatch"]["lgm_range"] = [13.0, 5.0]
        config["galeffnet"]["experiments"]["galeffnet"]["weights"] = "imagnet"
    problems = _problems(change)
    assert [p.split(":")[0] for p in problems] == [
        "galaxies.crossmatch.lgm_range", "galaxies.preprocess.crop",
        "galeffnet.experiments.galeffnet.weights"]


def test_default_methods_are_those_with_a_section():
    config = copy.deepcopy(DEMO)
    del config["methods"], config["galeffnet"]
    assert selected_methods(config) == ["sigma_sfr", "stellar"]


def test_null_entries_are_removed_and_named():
    from snakemake.utils import update_config

    config = copy.deepcopy(DEMO)
    update_config(config, {"galeffnet": {"experiments": {"galeffnet-z": None},
                                         "baselines": {"random_forest_z": None}},
                           "multimodal": {"tabular": {"models": {"rf-image": None}}}})
    removed = remove_disabled(config)
    assert sorted(removed) == ["galeffnet.baselines.random_forest_z",
                               "galeffnet.experiments.galeffnet-z",
                               "multimodal.tabular.models.rf-image"]
    assert list(config["galeffnet"]["experiments"]) == ["galeffnet"]
    assert set(config["galeffnet"]["baselines"]) == {"mean", "random_forest"}
    assert "rf-image" not in config["multimodal"]["tabular"]["models"]
    # other nulls are values, not removals (e.g. sdss.n_spectra: null means all)
    assert config["mock"]["sdss"]["n_spectra"] is None
    assert remove_disabled(config) == []
