# Constants and input functions shared by every rule file. Scripts never read
# snakemake.config: every result-changing value reaches a rule through params, built
# here, so that Snakemake's params rerun trigger reruns exactly the stages it changes.
# Paths come from galstar.paths, the one owner of the results/ layout.

import copy
import re
from pathlib import PurePosixPath

from snakemake.exceptions import WorkflowError

from galstar import paths
from galstar.config_checks import selected_methods
from galstar.methods import get_method
from galstar.training.experiments import merge
from galstar.training.folds import fold_groups
from galstar.training.tuning import tuning_trials


ARCHIVE = config["archive"]
SHARDS = [f"shard-{i:03d}" for i in range(config["shards"])]
MOCK_ROOT = config["mock"]["root"]
RAW = paths.raw(ARCHIVE)
# Methods to build, from config `methods` (default: every method with a section); the
# Snakefile's check_config has checked the config, mock.options included.
METHODS = selected_methods(config)
# Methods that read the galaxy cutouts (the others need only the cross-matched catalogue).
IMAGE_METHODS = {"galeffnet"}
# Method -> experiment name -> resolved settings (defaults merged, ablations expanded).
EXPERIMENTS = {m: get_method(m).experiments(config) for m in METHODS}
# Method -> cross-validation group -> its fold experiments (experiment key `folds`).
CV_GROUPS = {m: fold_groups(EXPERIMENTS[m]) for m in METHODS}
# Method -> tuned experiment -> its hyperparameter CV trials (experiment key `tune`).
TUNING_TRIALS = {m: tuning_trials(EXPERIMENTS[m], f"{m}.experiments") for m in METHODS}
# Methods that read the shared galaxy sample (the stellar method reads only its own data).
GALAXY_METHODS = [m for m in METHODS if m != "stellar"]


# No wildcard spans a directory: results/<method>/metrics/<name>.csv must never match
# results/<method>/metrics/<experiment>/table2.csv (remote jobs re-resolve their outputs).
wildcard_constraints:
    shard=r"shard-\d{3,4}",
    method="|".join(METHODS) or "(?!)",
    name=r"[^/]+",
    baseline=r"[^/]+",
    table=r"[^/]+",
    figure=r"[^/]+",
    variant=r"[^/]+",


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


def method_evaluation(method):
    """The shared ``evaluation`` settings with the method's own merged over them."""
    return merge(cfg("evaluation"), config[method].get("evaluation") or {})


def evaluation_settings(wildcards):
    """The evaluate rule's settings: the method's, and the split its intervals are
    calibrated on (``val``, or ``loo`` where the method says the validation split does
    not represent the test objects: :func:`calibration_split` of its module)."""
    settings = method_evaluation(wildcards.method)
    exp = EXPERIMENTS[wildcards.method].get(wildcards.name)
    hook = getattr(get_method(wildcards.method), "calibration_split", None)
    return {"outlier_dex": settings.get("outlier_dex"),
            "interval_levels": settings.get("interval_levels"),
            "calibration_split": hook(exp) if exp and hook else "val"}


def mock_archive_marker():
    """The file whose existence means the mock archive is complete (mock runs only)."""
    return f"{MOCK_ROOT}/skyserver/galSpec.fits" if ARCHIVE == "mock" else []


def shard_paths(pattern):
    """Expand ``pattern`` (with a ``{shard}`` field) over every shard."""
    return expand(pattern, shard=SHARDS)


def experiment(wildcards):
    """The resolved settings of ``{method}/{experiment}`` (params and resources)."""
    try:
        return EXPERIMENTS[wildcards.method][wildcards.experiment]
    except KeyError:
        raise ValueError(f"no experiment '{wildcards.experiment}' in config "
                         f"{wildcards.method}.experiments") from None


# Scheduling priority of the jobs that lead to the longest trainings (GalEffNet's): the
# galaxy sample, cutouts and preprocessing. Started first, the long trainings no longer
# end the run on one busy core while the others idle.
GALAXY_CHAIN_PRIORITY = 10
# The SDSS chain next: the multimodal active learning behind it is the longest
# one-thread job after those trainings (its `priority` in the config).
SDSS_CHAIN_PRIORITY = 8


def job_threads(most):
    """Threads of a job: ``most``, but locally at most half the cores.

    Snakemake reserves no cores for a waiting job, so a job that needs every core never
    starts while one-core jobs keep taking them (on 2 cores the cutouts waited 12 min,
    the trainings 10). Keras jobs size their pools by this claim (``start_backend``), so
    two side by side do not compete (docs/calibration.md). A cluster gets ``most``.
    """
    try:
        cores = workflow.cores if workflow.local_exec else None
    except WorkflowError:  # no --cores (lint)
        cores = None
    return int(most) if not cores else max(1, min(int(most), int(cores) // 2))


def experiment_setting(key):
    """A params/resources function: the experiment's ``key``."""
    return lambda wildcards, **_: experiment(wildcards)[key]


def experiment_threads(wildcards, **_):
    """The experiment's ``threads``, locally at most half the cores (:func:`job_threads`)."""
    return job_threads(experiment(wildcards)["threads"])


def experiment_inputs(wildcards):
    """The files an experiment trains and predicts on (its method decides)."""
    return get_method(wildcards.method).inputs(experiment(wildcards), SHARDS)


def experiment_regex():
    """Wildcard regex of every experiment name of every built method."""
    names = {n for exps in EXPERIMENTS.values() for n in exps}
    return "|".join(sorted(map(re.escape, names))) or "(?!)"


def cv_group_regex():
    """Wildcard regex of every cross-validation group name (gathered predictions)."""
    names = {g for groups in CV_GROUPS.values() for g in groups}
    return "|".join(sorted(map(re.escape, names))) or "(?!)"


def all_targets(wildcards):
    """The final targets of the workflow: one group per stage, then each method's.

    Products that later files derive from (the raw tables, the catalogue shards, each
    method's inputs, models and predictions) are targets too: Snakemake removes a job's
    outputs when it starts, and an interrupted job (a killed ``--forcerun train``) must
    not leave a missing model behind outputs that still satisfy ``rule all``.
    """
    targets = []
    if GALAXY_METHODS:
        targets += [f"{RAW}/mpajhu.parquet", f"{RAW}/dr9_sweeps.txt", paths.CROSSMATCH,
                    paths.CUTFLOW, paths.CATALOG_REJECTS, *shard_paths(paths.CATALOG_SHARD),
                    paths.SEPARATION_FIG]
    for fn in STAGE_TARGETS:
        targets.extend(fn())
    for method in METHODS:
        targets += method_targets(method)
        targets += get_method(method).final_targets(EXPERIMENTS[method])
    return list(dict.fromkeys(targets))  # in order, once each


# Each stage's rule file appends a function returning its final targets.
STAGE_TARGETS = []


def preprocess_quality_shards(n_shards):
    """The shards the truth scoring samples (the first n: shards are random already)."""
    return SHARDS[: max(1, min(len(SHARDS), n_shards))]


def preprocess_targets():
    """Final targets of the preprocessing stage (the truth scoring only on the mock)."""
    targets = [paths.REJECT_COUNTS, paths.STEPS_FIG]
    if ARCHIVE == "mock":
        targets.append(paths.QUALITY)
    return targets


def model_names(method):
    """Every model of ``method`` that is evaluated: its experiments (a cross-validation
    group as one model, its gathered folds), then its baselines."""
    baselines = [f"baseline-{b}" for b in config[method].get("baselines") or {}]
    single = [n for n, exp in EXPERIMENTS[method].items() if not exp.get("cv_group")]
    return [*single, *CV_GROUPS[method], *baselines]


def calibration_inputs(wildcards):
    """Every built model's calibration table, keyed ``<method>/<model>``."""
    return {
        f"{m}/{n}": paths.fill(paths.CALIBRATION, method=m, name=n)
        for m in METHODS
        for n in model_names(m)
    }


def method_targets(method):
    """The generic targets of ``method``: each model's predictions, metrics and
    calibration; each experiment's inputs, model files and learning curve; the
    baselines' inputs (see all_targets: why intermediate products are targets)."""
    method_module = get_method(method)
    out = []
    for name in model_names(method):
        out += [paths.fill(p, method=method, name=name)
                for p in (paths.PREDICTIONS, paths.METRICS, paths.CALIBRATION)]
    if config[method].get("baselines"):
        out += [f for files in method_module.baseline_inputs(SHARDS).values() for f in files]
    for name, exp in EXPERIMENTS[method].items():
        out += [f for files in method_module.inputs(exp, SHARDS).values() for f in files]
        if exp.get("cv_group"):
            out.append(paths.fill(paths.PREDICTIONS, method=method, name=name))
        out += [paths.fill(p, method=method, experiment=name)
                for p in (paths.MODEL, paths.SCALER, paths.HISTORY, paths.MODEL_CONFIG,
                          paths.LEARNING_CURVE)]
        if exp.get("tune"):
            out += [paths.fill(p, method=method, experiment=name)
                    for p in (paths.TUNED, paths.TUNING_TABLE)]
    return out


# Tables shown in the report as HTML pages. A rule registers its CSV output with
# report_table() instead of report(): the CSV stays a plain output, and report.smk makes
# one page rule per registered table (the page, beside the CSV, is the report entry).
REPORT_TABLES = []
_WILDCARD = re.compile(r"{(\w+)}")
_NOT_WORD = re.compile(r"\W+")


def report_table(csv, caption, category, subcategory=None, labels=None):
    """Register ``csv`` (a path pattern) for the report; return it unflagged.

    ``caption``, ``category``, ``subcategory`` and ``labels`` are those of report()
    (wildcards allowed) and go to the page ``paths.html_of(csv)``.
    """
    labels = labels or {}
    stem = PurePosixPath(csv).relative_to("results").with_suffix("")
    what = labels.get("table") or stem.name
    model = f" (model {labels['model']})" if "model" in labels else ""
    REPORT_TABLES.append(dict(
        csv=csv, html=paths.html_of(csv), caption=caption, category=category,
        subcategory=subcategory, labels=labels, title=f"{category}: {what}{model}",
        rule_name=f"table_html_{_NOT_WORD.sub('_', str(stem)).strip('_')}",
        log=f"logs/report/{stem}.log"))
    return csv


def matches_pattern(pattern, path):
    """Whether ``path`` is an instance of the wildcard ``pattern`` (no '/' in a wildcard)."""
    parts = _WILDCARD.split(pattern)  # literal, wildcard name, literal, ...
    regex = "".join("[^/]+" if i % 2 else re.escape(part) for i, part in enumerate(parts))
    return re.fullmatch(regex, path) is not None


def report_table_order():
    """(first, second) rule names where a table's path also fits another's pattern
    (results/sigma_sfr/metrics/results.csv and results/{method}/metrics/{name}.csv):
    the more specific table's page rule goes first."""
    count = lambda t: len(_WILDCARD.findall(t["csv"]))  # noqa: E731
    return [(a["rule_name"], b["rule_name"]) for a in REPORT_TABLES for b in REPORT_TABLES
            if count(a) < count(b) and matches_pattern(b["csv"], a["csv"])]


def report_pages(wildcards):
    """The report pages of the final targets (inputs of `all`): the page of every
    registered table among the CSV targets, and the run summary."""
    csvs = [t for t in all_targets(wildcards) if t.endswith(".csv")] + ["results/calibration.csv"]
    pages = [paths.html_of(c) for c in csvs
             if any(matches_pattern(t["csv"], c) for t in REPORT_TABLES)]
    return [*dict.fromkeys(pages), paths.RUN_SUMMARY]


# Training inputs of the generic train and gather_folds rules (galstar.training.folds).
def experiment_init(wildcards):
    """The model and scaler a warm-started experiment (``init_from``) starts from."""
    source = experiment(wildcards).get("init_from")
    if not source:
        return {}
    # lists, as every method input: the scripts pass each named input on as a list
    return {k: [paths.fill(p, method=wildcards.method, experiment=source)]
            for k, p in (("init_model", paths.MODEL), ("init_scaler", paths.SCALER))}


def experiment_tuned(wildcards):
    """The chosen values of a tuned experiment (``tune``: tune.smk), as a list input."""
    if not experiment(wildcards).get("tune"):
        return {}
    return {"tuned": [paths.fill(paths.TUNED, method=wildcards.method,
                                 experiment=wildcards.experiment)]}


def trial_settings(wildcards):
    """The settings of trial ``{trial}`` of ``{method}/{experiment}``."""
    try:
        return TUNING_TRIALS[wildcards.method][wildcards.experiment][wildcards.trial]
    except KeyError:
        raise ValueError(f"no tuning trial '{wildcards.trial}' of config "
                         f"{wildcards.method}.experiments.{wildcards.experiment}") from None


def trial_histories(wildcards):
    """Trial name -> its history, for every trial of a tuned experiment."""
    trials = TUNING_TRIALS[wildcards.method][wildcards.experiment]
    trial_dir = paths.fill(paths.TRIAL_DIR, method=wildcards.method,
                           experiment=wildcards.experiment)
    return {t: paths.fill(f"{trial_dir}/history.csv", trial=t) for t in trials}


def tuning_regex(level):
    """Wildcard regex of every tuned experiment (``experiment``) or trial (``trial``)."""
    names = {(e if level == "experiment" else t)
             for tuned in TUNING_TRIALS.values() for e, trials in tuned.items() for t in trials}
    return "|".join(sorted(map(re.escape, names))) or "(?!)"


def cv_folds(wildcards):
    """The fold predictions of cross-validation group ``{name}`` (galstar.training.folds)."""
    return [paths.fill(paths.PREDICTIONS, method=wildcards.method, name=fold)
            for fold in CV_GROUPS[wildcards.method][wildcards.name]]


# The stellar method's settings (stellar.smk).
STELLAR = EXPERIMENTS.get("stellar", {})
STELLAR_CFG = cfg("stellar") if STELLAR else {}


def stellar_arm(wildcards):
    """Config ``stellar.arms.<arm>`` of the job's arm."""
    return STELLAR_CFG["arms"][wildcards.arm]


def stellar_observed_settings(arm):
    """Every setting of the observed chain of ``arm``: never the resolving power, so that
    changing it reruns the grid side only (stellar.smk)."""
    if not STELLAR:
        return {}
    chain = ("stitch", "normalise", "barycentric", "max_filled_fraction", "accept_merged")
    return {"grid": STELLAR_CFG["arms"][arm]["grid"],
            "shapes": STELLAR_CFG["arms"][arm]["shapes"],
            **{k: STELLAR_CFG[k] for k in chain if k in STELLAR_CFG}}


# The SDSS products of the galaxy sample (sdss.smk): the mock archive's completion
# markers and the raw downloads under resources/{archive}/.
SDSS_MOCK_DONE = {
    "spectra": f"{MOCK_ROOT}/sdss_manifest.json",
    "images": f"{MOCK_ROOT}/sdss_images",
}
SDSS_RAW = {k: paths.fill(v, archive=ARCHIVE) for k, v in paths.SDSS_RAW.items()}


def sdss_mock(product):
    """The mock archive's completion marker of an SDSS product (mock runs only)."""
    return SDSS_MOCK_DONE[product] if ARCHIVE == "mock" else []


def sdss_stage_targets():
    """Final targets of the SDSS stage: every contract file of every shard."""
    mock = list(SDSS_MOCK_DONE.values()) if ARCHIVE == "mock" else []
    return [
        *mock,
        SDSS_RAW["dr7"],
        paths.SDSS_SPECTRA_GRID,
        *shard_paths(SDSS_RAW["spectra"]),
        *shard_paths(SDSS_RAW["images"]),
        *shard_paths(paths.SDSS_TARGETS),
        *shard_paths(paths.SDSS_SPECTRA_TENSOR),
        *shard_paths(paths.SDSS_SPECTRA_TABLE),
        *shard_paths(paths.SDSS_IMAGE_TENSOR),
        *shard_paths(paths.SDSS_IMAGE_TABLE),
        *shard_paths(paths.SDSS_TABLE),
        paths.SDSS_REJECT_COUNTS,
    ]
