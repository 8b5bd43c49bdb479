"""``galstar predict TARGETS MODEL_DIR [-o OUT]``: the workflow's predict_targets rules,
run through Snakemake in the current directory (its results/ and resources/)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["find_snakefile", "predict_command", "main"]


def find_snakefile() -> Path:
    """The workflow's Snakefile: ``$GALSTAR_SNAKEFILE``, else the checkout this package
    is installed from (editable install)."""
    env = os.environ.get("GALSTAR_SNAKEFILE")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "Snakefile"
    if not path.is_file():
        raise SystemExit(f"galstar predict: no Snakefile at {path}; set GALSTAR_SNAKEFILE "
                         "to the workflow's Snakefile")
    return path


def predict_command(targets: str, model_dir: str, out: str | None = None, *,
                    snakefile: str | os.PathLike | None = None,
                    configfiles: Sequence[str] = (), cores: int | None = None,
                    directory: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The Snakemake command line of a prediction run (paths as given: relative ones are
    relative to ``directory``, default the current one)."""
    config = [f"targets={targets}", f"model={str(model_dir).rstrip('/')}"]
    if out:
        config.append(f"out={out}")
    # the target first: --configfile and --config take every word up to the next option
    command = [sys.executable, "-m", "snakemake", "predict_targets", "-s",
               str(snakefile or find_snakefile()), "--cores", str(cores or os.cpu_count() or 1)]
    if directory:
        command += ["--directory", directory]
    if configfiles:
        command += ["--configfile", *configfiles]
    return [*command, "--config", *config, *extra]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="galstar", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="predict with a packaged model for a target list")
    p.add_argument("targets", help="target list: .csv, .fits or .parquet (ra, dec or spectra)")
    p.add_argument("model_dir", help="packaged model directory (results/<method>/models/<e>)")
    p.add_argument("-o", "--out", help="output table (.parquet; the .fits is written beside)")
    p.add_argument("--configfile", action="append", default=[],
                   help="config file(s) merged over the workflow's (the training's config)")
    p.add_argument("--cores", type=int, default=None, help="Snakemake --cores")
    p.add_argument("--directory", help="Snakemake working directory (default: here)")
    parser.epilog = "Arguments after -- go to Snakemake (-- --workflow-profile profiles/slurm)."
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    command = predict_command(args.targets, args.model_dir, args.out,
                              configfiles=args.configfile, cores=args.cores,
                              directory=args.directory, extra=extra)
    return subprocess.call(command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
