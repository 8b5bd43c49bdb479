"""Checks of the merged config that its JSON schema cannot express (cross-field).

The Snakefile calls :func:`check_config` right after the schema validation and before
any rule is defined: a bad value stops ``snakemake -n`` with its key named, before any
job runs and before Snakemake deletes the previous outputs of a job that would fail on
it. Every problem found is reported at once. :func:`remove_disabled` runs before both:
a later config file drops a named entry (an experiment, a baseline) by setting it null.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ConfigError", "check_config", "remove_disabled", "selected_methods"]

#: Methods built when config ``methods`` is not given: each one with a section.
DEFAULT_METHODS = ("galeffnet", "sigma_sfr", "stellar")


class ConfigError(ValueError):
    """One or more config values that the workflow cannot run with.

    Attributes
    ----------
    problems : list of str
        One message per bad value, each naming its config key.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid config (nothing was run):\n  - " + "\n  - ".join(problems))


#: Maps of named entries in a method's section ((key, ...) paths): ``name: null`` removes one.
NAMED_ENTRIES = (("experiments",), ("baselines",), ("late_fusion",), ("tabular", "models"))


def remove_disabled(config: dict[str, Any]) -> list[str]:
    """Delete the named entries set to null in any section's maps of :data:`NAMED_ENTRIES`.

    Config files merge key by key, so a file merged over the demo cannot otherwise drop
    one of the demo's experiments; ``galeffnet: {experiments: {galeffnet-z: null}}`` does.
    Returns the removed keys (dotted), for the log.
    """
    removed = []
    for section, node in config.items():
        if not isinstance(node, dict):
            continue
        for path in NAMED_ENTRIES:
            entries = node
            for key in path:
                entries = entries.get(key) if isinstance(entries, dict) else None
            if not isinstance(entries, dict):
                continue
            for name in [n for n, v in entries.items() if v is None]:
                del entries[name]
                removed.append(".".join((section, *path, name)))
    return removed


def selected_methods(config: Mapping[str, Any]) -> list[str]:
    """The methods ``rule all`` builds: config ``methods``, or every one with a section."""
    return list(config.get("methods") or [m for m in DEFAULT_METHODS if m in config])


def check_config(config: Mapping[str, Any]) -> None:
    """Check every cross-field constraint of a schema-valid config.

    Parameters
    ----------
    config : mapping
        The merged config (``config/config.yaml`` and the command line's).

    Raises
    ------
    ConfigError
        Listing every problem, each naming its key.

    Notes
    -----
    The checks: every listed method has a section; ``mock.options`` names only known
    settings with usable values; every ``*_range*`` pair is ordered (min <= max) and every
    ``*_bins`` / ``*_bins_arcsec`` list of edges strictly increases, wherever they are;
    the central crop fits in the cutout; interval levels are distinct; and each
    selected method's experiments resolve (the method module checks its own merged
    keys, e.g. GalEffNet's ``weights`` and ``resolution``) and its own cross-field
    constraints hold (``config_problems`` of the method module, when it has one).
    """
    problems = [
        *_methods(config),
        *_mock_options(config),
        *_stellar_mock(config),
        *_sdss(config),
        *_ordered(config, ""),
        *_crop(config),
        *_interval_levels(config),
    ]
    if not any(p.startswith("methods:") for p in problems):
        problems += _method_problems(config)
    if problems:
        raise ConfigError(problems)


def _methods(config: Mapping[str, Any]) -> Iterator[str]:
    for method in selected_methods(config):
        if method not in config:
            yield f"methods: '{method}' is listed but the config has no '{method}:' section"


def _mock_options(config: Mapping[str, Any]) -> Iterator[str]:
    from galstar.mock.settings import validate_options

    try:
        validate_options((config.get("mock") or {}).get("options"))
    except (TypeError, ValueError) as err:
        yield str(err)


def _sdss(config: Mapping[str, Any]) -> Iterator[str]:
    """``mock.sdss`` options, and ``galaxies.sdss`` spectrum grid, gridding and image
    settings, build (bad bit names, start >= stop, an unknown key)."""
    from galstar.mock.sdss_settings import validate_sdss_options

    try:
        validate_sdss_options((config.get("mock") or {}).get("sdss"))
    except (TypeError, ValueError) as err:
        yield str(err)
    section = (config.get("galaxies") or {}).get("sdss")
    if not section:
        return
    from galstar.imaging.sdss_settings import SdssImageSettings
    from galstar.spectra.sdss_sample import spectra_settings

    for build, key in ((spectra_settings, "spectra"), (SdssImageSettings.from_mapping, "images")):
        try:
            build(section.get(key) or {})
        except (TypeError, ValueError) as err:
            path, text = f"galaxies.sdss.{key}", str(err)
            yield text if path in text else f"{path}: {text}"


def _stellar_mock(config: Mapping[str, Any]) -> Iterator[str]:
    """``stellar.mock.options`` are known settings, and (archive: mock) each arm accepts
    the order shape the mock writes, else the shape filter rejects every star."""
    from galstar.mock.stellar_settings import validate_stellar_options

    section = config.get("stellar")
    if not section or "stellar" not in selected_methods(config):
        return
    try:
        mock = validate_stellar_options((section.get("mock") or {}).get("options"))
    except (TypeError, ValueError) as err:
        yield str(err)
        return
    if config.get("archive") != "mock":
        return
    written = {"vis": (len(mock.vis_orders or range(61)), 4096),
               "nir": (2 * len(mock.nir_orders or range(28)), 2040)}
    for arm, shape in written.items():
        shapes = [tuple(s) for s in ((section.get("arms") or {}).get(arm) or {}).get("shapes", [])]
        if shape not in shapes:
            yield (f"stellar.arms.{arm}.shapes: the stellar mock writes {arm} orders of shape "
                   f"{list(shape)} (stellar.mock.options), not among {[list(s) for s in shapes]}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(node: Any, where: str) -> Iterator[str]:
    """``*_range*`` pairs ordered, ``*_bins*`` edges increasing, anywhere in ``node``."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        path = f"{where}.{key}" if where else str(key)
        if path == "mock.options":  # validate_options checks the mock's own settings
            continue
        if isinstance(value, Mapping):
            yield from _ordered(value, path)
            continue
        if not (isinstance(value, list | tuple) and value and all(map(_is_number, value))):
            continue
        name = str(key)
        if (name.endswith("_range") or "_range_" in name) and len(value) == 2 \
                and value[0] > value[1]:
            yield f"{path}: (min, max) is reversed, got {list(value)}"
        if (name.endswith("_bins") or "_bins_" in name) and any(
                b <= a for a, b in zip(value[:-1], value[1:], strict=True)):
            yield f"{path}: bin edges must strictly increase, got {list(value)}"


def _crop(config: Mapping[str, Any]) -> Iterator[str]:
    galaxies = config.get("galaxies") or {}
    crop = (galaxies.get("preprocess") or {}).get("crop")
    size = (galaxies.get("cutout") or {}).get("size")
    if _is_number(crop) and _is_number(size) and crop > size:
        yield (f"galaxies.preprocess.crop: the central crop ({crop} px) is larger than the "
               f"cutouts (galaxies.cutout.size = {size} px); every object would be rejected")


def _interval_levels(config: Mapping[str, Any]) -> Iterator[str]:
    levels = (config.get("evaluation") or {}).get("interval_levels") or []
    if len(set(levels)) != len(levels):
        yield f"evaluation.interval_levels: levels must be distinct, got {list(levels)}"


def _method_problems(config: Mapping[str, Any]) -> list[str]:
    from galstar.methods import get_method

    problems: list[str] = []
    for name in selected_methods(config):
        try:
            module = get_method(name)
            module.experiments(config)
        except ValueError as err:
            problems.append(str(err).removeprefix("config ").strip())
            continue
        if hasattr(module, "config_problems"):
            problems += module.config_problems(config)
    return problems
