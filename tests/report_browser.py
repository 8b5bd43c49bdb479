"""The Snakemake report as a reader sees it: headless Chromium screenshots and DOM.

The report is a single-page app (React): a page is chosen by clicking, not by URL. To
show one result, :func:`with_result_open` writes a copy of the report whose last script
opens it as the result's own button does (``app.setView`` with its data URI).

Run as a script (``make report-check``): build a tiny sigma_sfr-only run in a temporary
directory, its report, and screenshots of the landing page and of one table page.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Virtual time for the page's scripts to render [ms] (React, vega, the iframe).
BUDGET_MS = 15000


def find_chromium() -> str | None:
    """Path of a Chromium-like browser, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _browser(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    browser = find_chromium()
    if browser is None:
        raise RuntimeError(f"no browser found (tried {', '.join(BROWSERS)}); on Debian: "
                           "apt-get install chromium")
    # --no-sandbox: containers run as root, where Chromium's sandbox refuses to start
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", f"--virtual-time-budget={BUDGET_MS}", *args],
                          capture_output=True, text=True, timeout=timeout, check=True)


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1400, 1000)) -> Path:
    """Screenshot of ``page`` (an HTML file) at ``size`` pixels into ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _browser(f"--window-size={size[0]},{size[1]}", f"--screenshot={png}",
             Path(page).resolve().as_uri())
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {page}")
    return png


def rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran (iframes' documents not included)."""
    return _browser("--dump-dom", Path(page).resolve().as_uri()).stdout


def with_result_open(report: Path, result: str, out: Path) -> Path:
    """A copy of ``report`` that opens the entry ``result`` (its path, as in the report's
    ``results``) once loaded."""
    text = Path(report).read_text(encoding="utf-8")
    opener = ("<script>window.addEventListener('load', function () { setTimeout(function () {"
              f" var path = {json.dumps(result)};"
              " app.setView({navbarMode: 'resultinfo', content: 'html',"
              " contentPath: results[path].data_uri, resultPath: path}); }, 100); });"
              "</script>")
    if "</body>" not in text:
        raise ValueError(f"{report} has no </body>: not a Snakemake report?")
    head, tail = text.rsplit("</body>", 1)
    out.write_text(head + opener + "</body>" + tail, encoding="utf-8")
    return out


def tiny_config(repo: Path = REPO) -> dict:
    """The sigma_sfr-only tiny run: 500 mock galaxies, 2 shards, 2-epoch small networks."""
    import yaml

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config.update(shards=2, methods=["sigma_sfr"])
    config["mock"].update(n_galaxies=500, n_field=300, n_stars=30)
    config["sigma_sfr"]["training"].update(
        epochs=2, batch_size=32, first_width=8, widths=[8, 8, 16, 16], dense_units=[16, 8],
        threads=1, mem_mb=2000, runtime=10)
    config["sigma_sfr"]["baselines"]["hgb"]["max_iter"] = 30
    config["evaluation"]["mc_passes"] = 3
    return config


def run_tiny(workdir: Path, *args: str, repo: Path = REPO) -> None:
    """Snakemake on the tiny config in ``workdir`` (the config written there first)."""
    import yaml

    cfg = workdir / "config.yaml"
    if not cfg.exists():
        cfg.write_text(yaml.safe_dump(tiny_config(repo), sort_keys=False))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    subprocess.run([SNAKEMAKE, "-s", str(repo / "Snakefile"), "--configfile", str(cfg),
                    "--directory", str(workdir), "--cores", "2", *args],
                   env=env, check=True, timeout=3000)


def check_report(report: Path, out: Path, table: str) -> dict:
    """Screenshots of the landing page and of ``table``'s page; what the landing shows.

    Returns
    -------
    dict
        ``landing`` and ``table`` (screenshot paths), ``dom`` (the landing page's
        rendered DOM).
    """
    out.mkdir(parents=True, exist_ok=True)
    landing = screenshot(report, out / "landing.png")
    opened = with_result_open(report, table, out / "report_table_open.html")
    page = screenshot(opened, out / "table.png")
    return {"landing": landing, "table": page, "dom": rendered_dom(report)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "report_check",
                        help="where the screenshots go")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="run directory (default: a new temporary one, removed after)")
    args = parser.parse_args()
    if find_chromium() is None:
        sys.exit(f"report-check: no browser (tried {', '.join(BROWSERS)}); "
                 "on Debian: apt-get install chromium")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="galstar-report-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run_tiny(workdir)
        run_tiny(workdir, "--report", "report.html")
        found = check_report(workdir / "report.html", args.out,
                             "results/sigma_sfr/metrics/results.html")
        shutil.copy2(workdir / "report.html", args.out / "report.html")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ok = "This run" in found["dom"] and "Code version" in found["dom"]
    print(f"landing page: {found['landing']}\ntable page: {found['table']}\n"
          f"report: {args.out / 'report.html'}\n"
          f"description on the landing page: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
