"""Preprocessing scored against the simulator's truth on >= 300 mock cutouts.

Targets (issue 3, demo mock): contaminant flux removed >= 0.95 and target flux retained
>= 0.95 (medians over isolated galaxies), centre failures <= 5 % of isolated galaxies,
blend recall >= 0.85 at precision >= 0.85. The blend truth is photometric (neighbours'
flux inside the target's 1 nmgy/arcsec^2 isophote >= 10 % of the target's, see
``galstar.imaging.quality``), scored over targets with a centre source; the settings are
the demo config's ``galaxies.preprocess``. The asymmetry pass's threshold was chosen on
four other mocks (seeds 5, 7, 13, 17; 1280 targets, 66 true blends: precision 0.84,
recall 0.80) and its centre search (``centre_step_px``) on seeds 1, 2, 3, 5, 7, 13, 17;
this sample (seed 11) was not used for either. The blend targets are not met yet:
precision 1.00 (11 / 11) but recall 0.73 (11 of 15 true blends). On seven held-out mocks
(seeds 11, 19, 23, 29, 31, 37, 41) pooled: precision 0.92, recall 0.77. Most misses are
large merged regions where a bright neighbour lays a smooth pedestal of light over the
target, which a 180 deg rotation cannot see; the ``unpaired_max`` measure of that light
(off in the demo config) raises the pooled recall to 0.83 at precision 0.86, still short.
They stay a strict xfail so that meeting them is noticed, and the improvement over the
paper's settings is asserted.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from galstar.imaging.blend import BlendConfig
from galstar.imaging.pipeline import PreprocessConfig
from galstar.imaging.quality import TruthCutout, score_cutouts, summarise_quality
from galstar.io import read_parquet

mock = pytest.importorskip("galstar.archives.mock")

N_GALAXIES = 320
CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def demo_preprocess_config() -> PreprocessConfig:
    """The demo config's ``galaxies.preprocess`` (less the rule-only keys)."""
    section = yaml.safe_load(CONFIG.read_text())["galaxies"]["preprocess"]
    return PreprocessConfig.from_mapping(
        {k: v for k, v in section.items() if k not in ("quality", "figure")})


@pytest.fixture(scope="module")
def qualities(tmp_path_factory):
    root = tmp_path_factory.mktemp("mock-quality")
    mock.build_mock_archive(root, n_galaxies=N_GALAXIES, n_stars=N_GALAXIES // 2,
                            n_field=3 * N_GALAXIES, seed=11)
    galaxies = read_parquet(root / "truth" / "galaxies.parquet")
    targets = galaxies[galaxies["role"] == "target"]
    service = mock.MockCutoutService(root)
    cutouts = []
    for rec in targets.itertuples():
        ra, dec = float(rec.ra), float(rec.dec)
        cube = fits.getdata(io.BytesIO(service.fits_bytes(ra, dec))).astype(np.float32)
        target, contaminant, scalars = service.truth_maps(ra, dec)
        cutouts.append(TruthCutout(int(rec.galaxy_id), cube, target, contaminant,
                                   bool(scalars["is_blend"])))
    demo = summarise_quality(score_cutouts(cutouts, demo_preprocess_config()))
    paper = summarise_quality(score_cutouts(
        cutouts, demo_preprocess_config().with_(blend=BlendConfig())))
    return demo.set_index("metric"), paper.set_index("metric")


@pytest.fixture(scope="module")
def quality(qualities):
    return qualities[0]


def value(quality, metric):
    return float(quality.loc[metric, "value"])


def test_sample_is_large_enough(quality):
    assert value(quality, "n_cutouts") >= 300
    assert value(quality, "n_isolated") >= 200


def test_mask_removes_contaminants_and_keeps_the_target(quality):
    assert value(quality, "contaminant_flux_removed_median") >= 0.95
    assert value(quality, "target_flux_retained_median") >= 0.95


def test_centre_source_found_for_isolated_galaxies(quality):
    assert value(quality, "centre_failure_rate") <= 0.05


def test_blend_truth_is_photometric(quality):
    # Fewer true blends than overlapping isophotes: faint overlaps do not count.
    assert 5 <= value(quality, "n_true_blends") < value(quality, "n_overlap_flag")


def test_blend_detection_better_than_paper_settings(qualities):
    demo, paper = qualities
    # Noise fragments, neighbours outside the target's isophote and faint ones on its edge
    # no longer count, and companions on its wing are found by their asymmetry: precision
    # 0.33 -> 1.00 and recall 0.53 -> 0.73 here.
    assert value(demo, "blend_precision") >= 1.3 * value(paper, "blend_precision")
    assert value(demo, "blend_recall") >= value(paper, "blend_recall")
    assert value(demo, "blend_recall_all") <= value(demo, "blend_recall")


@pytest.mark.xfail(strict=True, reason="recall 0.73 (11 of 15) at precision 1.00 (held-out "
                   "mocks pooled: 0.77 at 0.92): bright neighbours' smooth pedestals escape "
                   "the asymmetry pass (see module doc)")
def test_blend_detection_against_truth(quality):
    assert value(quality, "blend_recall") >= 0.85
    assert value(quality, "blend_precision") >= 0.85
