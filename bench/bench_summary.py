"""The speed figures of the galaxy chain, gathered from one ``make bench`` run.

Reads ``results/benchmarks/{acquire,preprocess,preprocess_demo,train}.json`` (written
by the benches that ``make bench`` runs before this one) and writes
``results/benchmarks/summary.json``: each figure as a ratio measured side by side in
that run (a fraction of the latency bound, a speed-up over the same-run reference, a
share of the chain, a pipeline / in-memory throughput ratio), with its spread over the
run's repeats, its target and whether it is met; then prints them as a table.

Run: ``.venv/bin/python bench/bench_summary.py [--dir results/benchmarks]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galstar.io import atomic_path


def _load(directory: Path, name: str) -> dict | None:
    path = directory / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _figure(value: float, target: float, at_least: bool = True,
            spread: list[float] | None = None, note: str = "") -> dict:
    met = value >= target if at_least else value <= target
    return {"value": round(float(value), 4), "target": target,
            "comparison": ">=" if at_least else "<=", "met": bool(met),
            "spread": None if spread is None else [round(float(x), 4) for x in spread],
            "note": note}


def summarise(directory: Path) -> dict:
    """The figures of the benches found in ``directory`` (missing benches are skipped)."""
    figures: dict[str, dict] = {}
    acquire = _load(directory, "acquire")
    if acquire:
        for key, target, label in (("cutouts", 0.92, "download_fraction_of_latency_bound"),
                                   ("cutouts_with_5pct_faults", 0.88,
                                    "download_fraction_of_latency_bound_5pct_faults")):
            case = acquire.get(key)
            if case:
                runs = case.get("fraction_of_latency_bound_all")
                figures[label] = _figure(case["fraction_of_latency_bound"], target,
                                         spread=[min(runs), max(runs)] if runs else None,
                                         note=f"{case['concurrency']} in flight, "
                                              f"{case['latency_s'] * 1e3:.0f} ms latency, "
                                              f"{case.get('server', '')}")
        for key, label in (("cutouts_http10", "download_fraction_http10"),
                           ("cutouts_http10_with_5pct_faults",
                            "download_fraction_http10_5pct_faults")):
            case = acquire.get(key)
            if case:
                runs = case["fraction_of_latency_bound_all"]
                figures[label] = _figure(case["fraction_of_latency_bound"],
                                         0.92 if "faults" not in key else 0.88,
                                         spread=[min(runs), max(runs)],
                                         note="the test server's HTTP/1.0: a new "
                                              "connection every request")
    for name, label in (("preprocess_demo", "demo"), ("preprocess", "paper")):
        report = _load(directory, name)
        if not report or "speed_vs_published_blend_check" not in report:
            continue
        speed = report["speed_vs_published_blend_check"]
        figures[f"speed_vs_published_blend_check_{label}"] = _figure(
            speed["median"], 10.0, spread=[speed["min"], speed["max"]],
            note=f"{label} settings, image passes (catalogue pass off); quality of the "
                 f"same run: {report.get('quality')}")
        if "catalog_pass_share" in report:
            share = report["catalog_pass_share"]
            figures[f"catalog_pass_share_{label}"] = _figure(
                share["median"], 0.25, at_least=False, spread=[share["min"], share["max"]],
                note="1 - (chain without / with the catalogue pass), same rounds")
            with_catalog = report["speed_vs_published_blend_check_with_catalog"]
            figures[f"speed_vs_published_blend_check_{label}_with_catalog"] = _figure(
                with_catalog["median"], 10.0, spread=[with_catalog["min"],
                                                      with_catalog["max"]])
        scaling = report.get("scaling")
        if scaling:
            figures[f"shard_scaling_1_to_2_{label}"] = _figure(
                scaling["speedup_1_to_2"], 1.5,
                note=f"predicted 8-process speed-up {scaling['predicted_speedup_8']:.2f} "
                     f"(serial fraction {scaling['serial_fraction']:.2f})")
    train = _load(directory, "train")
    if train:
        epochs = train.get("images_per_s_by_epoch", {})
        figures["input_pipeline_ratio"] = _figure(
            train["ratio"], 0.97, spread=train.get("ratio_by_round"),
            note=f"{train['device']} ({train['device_name']}), {train['backbone']}, "
                 f"batch {train['batch_size']}; images/s by epoch {epochs}")
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="results/benchmarks")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    figures = summarise(directory)
    with atomic_path(directory / "summary.json") as tmp:
        tmp.write_text(json.dumps(figures, indent=2) + "\n")
    for name, f in figures.items():
        spread = "" if f["spread"] is None else f" [{f['spread'][0]:.3g}, {f['spread'][-1]:.3g}]"
        print(f"{name:55s} {f['value']:8.3f}{spread:20s} target {f['comparison']} "
              f"{f['target']:<5} {'met' if f['met'] else 'NOT met'}")
    return figures


if __name__ == "__main__":
    main()
