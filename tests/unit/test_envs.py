"""Static checks that ``snakemake --use-conda`` would work: every rule names a conda
env, and that env provides every module its script imports, following imports into
the galstar package transitively."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "workflow" / "rules"
SRC = REPO / "src"

# Import name -> the package name an env file lists for it (conda-forge or PyPI).
PROVIDED_BY = {
    "cv2": {"py-opencv", "opencv", "opencv-python-headless"},
    "yaml": {"pyyaml"},
    "sklearn": {"scikit-learn"},
    "umap": {"umap-learn"},
    "skimage": {"scikit-image"},
    "matplotlib": {"matplotlib-base", "matplotlib"},
    "PIL": {"pillow"},
    "tensorflow": {"tensorflow"},
    "erfa": {"pyerfa", "astropy"},
    "galstar": {"-e .."},
}
# Modules that the Snakemake script preamble provides, not the env.
PROVIDED_BY_SNAKEMAKE = {"snakemake"}
# Keras backends besides the envs' TensorFlow: imported only where KERAS_BACKEND picks them.
OTHER_BACKENDS = {"torch", "jax"}


def rule_blocks() -> dict[str, str]:
    """Map rule name -> the text of its block, for every rule in workflow/rules."""
    blocks = {}
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        starts = list(re.finditer(r"^rule (\w+):", text, flags=re.M))
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            blocks[match.group(1)] = text[match.start():end]
    return blocks


def env_packages(env_file: Path) -> set[str]:
    """Names of the packages an env file installs (conda and pip), lower case."""
    spec = yaml.safe_load(env_file.read_text())
    names = set()
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                names.add(pip_dep.strip() if pip_dep.startswith("-e") else
                          re.split(r"[=<>!~ \[]", pip_dep, maxsplit=1)[0].lower())
        else:
            names.add(re.split(r"[=<>!~ ]", dep, maxsplit=1)[0].lower())
    return names


def galstar_module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def lazy_exports(package: str) -> dict[str, str]:
    """A package's ``_EXPORTS`` (name -> submodule its ``__getattr__`` imports), or {}."""
    init = SRC.joinpath(*package.split("."), "__init__.py")
    if not init.exists():
        return {}
    for node in ast.parse(init.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "_EXPORTS":
            return ast.literal_eval(node.value)
    return {}


def imported_modules(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level third-party modules imported by ``path`` and, transitively, by the
    galstar modules it imports (including parent packages' ``__init__``)."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside galstar
                package = path.relative_to(SRC).with_suffix("").parts[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    for name in names:
        top = name.split(".")[0]
        if top != "galstar":
            found.add(top)
            continue
        parts = name.split(".")
        lazy = lazy_exports(".".join(parts[:-1])).get(parts[-1])
        if lazy:  # `from galstar.pkg import name` of a lazily exported name
            parts = lazy.split(".")
        for i in range(1, len(parts) + 1):
            module_file = galstar_module_file(".".join(parts[:i]))
            if module_file is not None:
                found |= imported_modules(module_file, seen)
        found.add("galstar")
    return found


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names
            and m not in PROVIDED_BY_SNAKEMAKE | OTHER_BACKENDS and m != "__future__"}


BLOCKS = rule_blocks()


def test_rules_exist():
    assert len(BLOCKS) >= 5, "expected the pipeline's rules under workflow/rules"


@pytest.mark.parametrize("rule", sorted(BLOCKS))
def test_rule_has_log_benchmark_conda(rule):
    block = BLOCKS[rule]
    if rule == "all":
        return
    for directive in ("log:", "conda:"):
        assert directive in block, f"rule {rule} lacks {directive}"
    if "script:" in block or "shell:" in block:
        assert "benchmark:" in block, f"rule {rule} lacks benchmark:"
    assert "run:" not in block, f"rule {rule} uses a run: block; use script:"


@pytest.mark.parametrize("rule", sorted(r for r, b in BLOCKS.items() if "script:" in b))
def test_env_provides_script_imports(rule):
    block = BLOCKS[rule]
    env_match = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
    script_match = re.search(r'script:\s*\n\s*"([^"]+)"', block)
    assert env_match and script_match, f"rule {rule}: conda/script paths not found"
    env_file = (RULES / env_match.group(1)).resolve()
    script = (RULES / script_match.group(1)).resolve()
    assert env_file.exists(), f"rule {rule}: env {env_file} missing"
    assert script.exists(), f"rule {rule}: script {script} missing"
    packages = env_packages(env_file)
    missing = []
    for module in sorted(third_party(imported_modules(script))):
        wanted = PROVIDED_BY.get(module, {module.lower()})
        if not wanted & packages:
            missing.append(module)
    assert not missing, f"rule {rule}: {env_file.name} does not provide {missing}"


@pytest.mark.parametrize("env_file", sorted((REPO / "envs").glob("*.yaml")))
def test_env_files_install_galstar(env_file):
    spec = yaml.safe_load(env_file.read_text())
    assert "conda-forge" in spec["channels"]
    assert "-e .." in env_packages(env_file), f"{env_file.name} must install galstar"
