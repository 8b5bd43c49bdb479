"""Where a run's results came from: the code version and the run's summary page.

The version is ``git describe`` of the checkout that holds the workflow (``-dirty``
when files differ from the commit), or, without git or outside a checkout (an
installed package, an exported tree), the package version, said so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from galstar import __version__
from galstar.evaluation.tables import html_page, html_table
from galstar.io import atomic_path

__all__ = ["code_version", "write_run_summary"]


def code_version(root: str | os.PathLike, timeout_s: float = 10.0) -> str:
    """The version of the code in ``root``.

    Parameters
    ----------
    root : str or os.PathLike
        A directory of the checkout (the workflow's base directory).
    timeout_s : float
        Longest wait for git [s] (a hung network file system must not stop a run).

    Returns
    -------
    str
        ``git describe --tags --always --dirty`` (e.g. ``6ff8b0b-dirty``), or
        ``galstar <version> (no git checkout)``.
    """
    try:
        done = subprocess.run(
            ["git", "-C", os.fspath(root), "describe", "--tags", "--always", "--dirty"],
            capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):  # no git binary, or it hung
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    return f"galstar {__version__} (no git checkout)"


def write_run_summary(path: str | os.PathLike, *, code: str, archive: str,
                      methods: Mapping[str, Sequence[str]]) -> None:
    """Write the run's summary page (atomically): code version, archive and the models
    of each method.

    Parameters
    ----------
    path : str or os.PathLike
        Page to write (``.html``).
    code : str
        Code version (:func:`code_version`).
    archive : str
        ``mock`` or ``live``.
    methods : mapping
        Method name -> its model names (experiments, then baselines).
    """
    source = ("mock: a simulated universe served in the archives' formats, with known truth"
              if archive == "mock" else
              "live: SDSS SkyServer (MPA-JHU) and the Legacy Survey DR9 services")
    facts = pd.DataFrame({"": ["code version", "archive"], "value": [code, source]})
    models = pd.DataFrame({"method": list(methods),
                           "models": [", ".join(names) for names in methods.values()]})
    body = "\n".join([html_table(facts), "<h2>Methods and their models</h2>",
                      html_table(models)])
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html_page("galstar run", body), encoding="utf-8")
