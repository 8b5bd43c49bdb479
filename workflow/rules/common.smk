# Constants and input functions shared by every rule file. Scripts never read
# snakemake.config: every result-changing value reaches a rule through params, built
# here, so that Snakemake's params rerun trigger reruns exactly the stages it changes.

import copy
from pathlib import Path

from galstar.training.experiments import expand_experiments


ARCHIVE = config["archive"]
SHARDS = [f"shard-{i:03d}" for i in range(config["shards"])]
MOCK_ROOT = config["mock"]["root"]
# Experiments named in the config plus the ablations generated from them.
EXPERIMENTS = expand_experiments(config)
RAW = f"resources/{ARCHIVE}"


wildcard_constraints:
    shard=r"shard-\d{3,4}",


def cfg(*keys):
    """Return a deep copy of the config value at ``keys`` (a KeyError names the path)."""
    node = config
    for i, key in enumerate(keys):
        try:
            node = node[key]
        except (KeyError, TypeError):
            path = ".".join(map(str, keys[: i + 1]))
            raise KeyError(f"config key '{path}' is missing") from None
    return copy.deepcopy(node)


def mock_archive_marker():
    """The file whose existence means the mock archive is complete (mock runs only)."""
    return f"{MOCK_ROOT}/skyserver/galSpec.fits" if ARCHIVE == "mock" else []


def shard_paths(pattern):
    """Expand ``pattern`` (with a ``{shard}`` field) over every shard."""
    return expand(pattern, shard=SHARDS)


def all_targets(wildcards):
    """The final targets of the workflow, one group per stage."""
    targets = [
        "results/catalog/crossmatch.parquet",
        "results/catalog/cutflow.csv",
        "results/catalog/separation.png",
    ]
    for fn in STAGE_TARGETS:
        targets.extend(fn())
    return targets


# Each stage's rule file appends a function returning its final targets.
STAGE_TARGETS = []


def preprocess_quality_shards(n_shards):
    """The shards the truth scoring samples (the first n: shards are random already)."""
    return SHARDS[: max(1, min(len(SHARDS), n_shards))]


def preprocess_targets():
    """Final targets of the preprocessing stage (the truth scoring only on the mock)."""
    targets = [
        "results/preprocess/reject_counts.csv",
        "results/preprocess/steps.png",
    ]
    if ARCHIVE == "mock":
        targets.append("results/preprocess/quality.csv")
    return targets
