"""Preprocessing scored against the simulator's truth on >= 300 mock cutouts.

Targets (issue 3, demo mock): contaminant flux removed >= 0.95 and target flux retained
>= 0.95 (medians over isolated galaxies), centre failures <= 5 % of isolated galaxies,
blend recall >= 0.85 at precision >= 0.85. The blend truth is photometric (neighbours'
flux inside the target's 1 nmgy/arcsec^2 isophote >= 10 % of the target's, see
``galstar.scoring.quality``), scored over targets with a centre source; the settings are
the demo config's ``galaxies.preprocess``, and each target gets its DR9 neighbours as the
pipeline does (nearest sweep source within 1" = the cross-match identity, then
``galstar.catalog.neighbours.find_neighbours`` on the mock's sweeps; targets without a
DR9 record get no catalogue, so only the image passes judge them).

The image passes' settings were chosen on other mocks (seeds 1, 2, 3, 5, 7, 13, 17) and
so was the catalogue pass's threshold (0.09); this sample (seed 11) was used for neither.
Here: precision 0.94, recall 1.00 (15 true blends; image passes alone 1.00 and 0.73).
On seven held-out mocks (seeds 11, 19, 23, 29, 31, 37, 41) pooled: precision 0.957,
recall 0.948 (image passes alone: 0.92, 0.77); on the demo's 600-cutout sample 0.913 and
0.875 (21 of 24: one more miss would fail it, a thin margin). The mock catalogue
describes the rendered profiles exactly (same Sersic family, small measurement noise, no
merged pairs), so these are upper bounds for real data.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from galstar.catalog.neighbours import find_neighbours, match_sweep_identity
from galstar.imaging.blend import BlendConfig
from galstar.imaging.pipeline import PreprocessConfig
from galstar.io import read_parquet
from galstar.scoring.quality import TruthCutout, score_cutouts, summarise_quality

mock = pytest.importorskip("galstar.mock")

N_GALAXIES = 320
CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


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
    sweeps = sorted(str(p) for p in root.glob("dr9/*/sweep/*.fits"))
    config = demo_preprocess_config()
    identity = match_sweep_identity(targets["ra"].to_numpy(), targets["dec"].to_numpy(),
                                    sweeps)
    identity.insert(0, "object_id", targets["galaxy_id"].to_numpy())
    found = find_neighbours(identity, sweeps, config.blend.catalog_radius_arcsec)
    groups = dict(tuple(found.groupby("object_id", sort=False)))
    in_dr9 = dict(zip(identity["object_id"], identity["RELEASE"] >= 0, strict=True))
    cutouts = []
    for rec in targets.itertuples():
        ra, dec = float(rec.ra), float(rec.dec)
        cube = fits.getdata(io.BytesIO(service.fits_bytes(ra, dec))).astype(np.float32)
        target, contaminant, scalars = service.truth_maps(ra, dec)
        neighbours = (groups.get(rec.galaxy_id, found.iloc[:0]) if in_dr9[rec.galaxy_id]
                      else None)
        cutouts.append(TruthCutout(int(rec.galaxy_id), cube, target, contaminant,
                                   bool(scalars["is_blend"]), neighbours))
    demo = summarise_quality(score_cutouts(cutouts, config))
    paper = summarise_quality(score_cutouts(cutouts, config.with_(blend=BlendConfig())))
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
    # no longer count, and the catalogue models find the neighbours' light on the target:
    # precision 0.33 -> 0.94 and recall 0.53 -> 1.00 here.
    assert value(demo, "blend_precision") >= 1.3 * value(paper, "blend_precision")
    assert value(demo, "blend_recall") >= value(paper, "blend_recall")
    assert value(demo, "blend_recall_all") <= value(demo, "blend_recall")


def test_blend_detection_against_truth(quality):
    assert value(quality, "blend_recall") >= 0.85
    assert value(quality, "blend_precision") >= 0.85
