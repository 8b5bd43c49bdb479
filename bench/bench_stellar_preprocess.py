"""Speed of the stellar preprocessing (galstar.spectra), per arm and per step.

Generates CARACAL-shaped stars in the bench itself (VIS 61 x 4096, NIR 28 x 4080, via
the test helpers that write the real layout) and BT-Settl-like synthetic spectra at
R ~ 300,000 sampling over 0.5-1.75 um, then times, single-threaded and in CPU seconds
(``time.process_time``; the machine is shared), the best of ``--repeat`` passes:

- observed: shape filter, stitching, resampling onto the arm grid, the three
  normalisation passes with the BIC search (whose share is reported), per arm, and a
  star's two arms together (target: under 0.5 s per core); reading the FITS file is
  reported beside it, not inside;
- grid: truncation + degradation + interpolation onto the arm grid per arm (and with
  the normalisation), plus reading a ``.spec.7`` file.

Writes ``results/benchmarks/stellar_preprocess.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, like one worker process

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.ndimage import gaussian_filter1d  # noqa: E402

from galstar.io import atomic_path  # noqa: E402
from galstar.spectra import (  # noqa: E402
    DEFAULT_GRIDS,
    RESOLVING_POWER,
    ArmGrid,
    NormaliseSettings,
    check_shape,
    degrade_to_grid,
    normalise,
    read_btsettl,
    read_carmenes,
    resample_to_grid,
    stitch,
)
from galstar.spectra.observed import barycentric  # noqa: E402
from galstar.spectra.resample import SPECTRES_BACKEND  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from stellar_files import spec7_lines, write_caracal  # noqa: E402

TARGET_STAR_S = 0.5


def best_cpu(fn, items, repeat: int) -> float:
    """Best (over passes) CPU seconds per item of ``fn`` over ``items``."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        for item in items:
            fn(item)
        best = min(best, (time.process_time() - t0) / len(items))
    return best


def synthetic_model(rng: np.random.Generator, native_r: float = 300_000.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A BT-Settl-like spectrum: 0.5-1.75 um, sampled at lambda/dlambda = native_r."""
    lnw = np.arange(np.log(5000.0), np.log(17500.0), 1.0 / native_r)
    tau = np.zeros(lnw.size)
    idx = rng.integers(0, lnw.size, 20000)
    np.add.at(tau, idx, rng.uniform(0.05, 2.0, idx.size) * 2.5)
    tau = gaussian_filter1d(tau, 1.0)
    w = np.exp(lnw)
    return w, 1e5 * (w / 8000.0) ** -3 * np.exp(-tau)


def write_spec7(path: Path, w: np.ndarray, f: np.ndarray) -> None:
    """A .spec.7 file of the model (log10 F + 8 in column 2), rows in two shuffled blocks."""
    logf = np.log10(f) + 8.0
    half = w.size // 2
    order = np.concatenate([np.arange(half, w.size), np.arange(half)])
    path.write_text("\n".join(spec7_lines(w[order], logf[order])) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stars", type=int, default=8, help="stars (both arms) to time")
    parser.add_argument("--grid-spectra", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-pixels", type=int, default=None,
                        help="arm grid length (default: DEFAULT_GRIDS, 16384)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", default=str(REPO / "results/benchmarks/stellar_preprocess.json"))
    args = parser.parse_args(argv)
    grids = {arm: g if args.n_pixels is None else ArmGrid(g.start, g.stop, args.n_pixels)
             for arm, g in DEFAULT_GRIDS.items()}
    settings = NormaliseSettings()
    rng = np.random.default_rng(args.seed)
    report: dict = {"observed": {}, "grid": {}}

    with tempfile.TemporaryDirectory(prefix="bench-stellar-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        files = {arm: [write_caracal(tmp / f"car-{i:04d}-sci-gtoc-{arm}_A.fits", arm,
                                     seed=args.seed + 2 * i + (arm == "nir"))
                       for i in range(args.stars)] for arm in ("vis", "nir")}
        model_w, model_f = synthetic_model(rng)
        spec7 = tmp / "lte035-5.0-0.0a+0.0.BT-Settl.spec.7"
        write_spec7(spec7, model_w, model_f)
        generate_s = time.perf_counter() - t0
        read_s = {arm: best_cpu(read_carmenes, files[arm], args.repeat) for arm in files}
        spectra = {arm: [read_carmenes(p) for p in files[arm]] for arm in files}
        spec7_read_s = best_cpu(read_btsettl, [spec7], 1)

    # Warm-up: Numba compiles (or loads from its cache) SpectRes once per process.
    t0 = time.perf_counter()
    resample_to_grid(np.linspace(1, 2, 10), np.ones(10), np.ones(10), np.linspace(1.1, 1.9, 5))
    jit_s = time.perf_counter() - t0

    star_total = 0.0
    for arm, specs in spectra.items():
        grid_w = grids[arm].wavelength()
        bary = [barycentric(s) for s in specs]
        stitched = [stitch(s) for s in bary]
        resampled = [resample_to_grid(s.wavelength, s.flux, s.sigma, grid_w, s.gaps)
                     for s in stitched]
        shape_s = best_cpu(check_shape, specs, args.repeat)
        stitch_s = best_cpu(lambda s: stitch(barycentric(s)), specs, args.repeat)
        resample_s = best_cpu(lambda s, g=grid_w: resample_to_grid(s.wavelength, s.flux,
                                                                   s.sigma, g, s.gaps),
                              stitched, args.repeat)
        normalise_s = best_cpu(lambda r, g=grid_w: normalise(g, r.flux, settings),
                               resampled, args.repeat)
        # bic_seconds is wall time inside normalise: its share of normalise's wall time.
        t0 = time.perf_counter()
        bic_wall = sum(normalise(grid_w, r.flux, settings).bic_seconds for r in resampled)
        norm_wall = time.perf_counter() - t0
        bic_share = bic_wall / norm_wall
        arm_s = shape_s + stitch_s + resample_s + normalise_s
        star_total += arm_s
        report["observed"][arm] = {
            "file_shape": list(specs[0].shape),
            "grid_pixels": grids[arm].n_pixels,
            "stitched_pixels": int(np.median([s.wavelength.size for s in stitched])),
            "stars_per_s_per_core": 1.0 / arm_s,
            "seconds_per_star": arm_s,
            "step_seconds": {"shape_filter": shape_s, "stitch": stitch_s,
                             "resample": resample_s, "normalise_3_passes": normalise_s},
            "bic_search_seconds": bic_share * normalise_s,
            "bic_share_of_arm": bic_share * normalise_s / arm_s,
            "read_fits_seconds": read_s[arm],
        }

    grid_inputs = [(model_w, model_f)] * args.grid_spectra
    for arm, grid in grids.items():
        r = RESOLVING_POWER[arm]
        degrade_s = best_cpu(lambda m, g=grid, r=r: degrade_to_grid(m[0], m[1], g, r),
                             grid_inputs, args.repeat)
        on_grid = degrade_to_grid(model_w, model_f, grid, r)
        norm_s = best_cpu(lambda f, g=grid: normalise(g.wavelength(), f, settings),
                          [on_grid] * args.grid_spectra, args.repeat)
        report["grid"][arm] = {
            "model_pixels": int(model_w.size),
            "resolving_power": r,
            "spectra_per_s_per_core": 1.0 / degrade_s,
            "seconds_truncate_degrade_interpolate": degrade_s,
            "spectra_per_s_per_core_with_normalisation": 1.0 / (degrade_s + norm_s),
        }
    report["grid"]["read_spec7_seconds"] = spec7_read_s
    report["grid"]["spec7_rows"] = int(model_w.size)
    report["star_two_arms_seconds_per_core"] = star_total
    report["target_star_two_arms_seconds"] = TARGET_STAR_S
    report["target_met"] = bool(star_total < TARGET_STAR_S)
    report["bic_share_of_star"] = sum(
        v["bic_search_seconds"] for v in report["observed"].values()) / star_total
    report.update({
        "n_stars": args.stars, "repeat": args.repeat,
        "timing": "best of repeat passes, single thread, CPU time (process_time)",
        "normalise_settings": {k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in vars(settings).items()},
        "spectres_backend": SPECTRES_BACKEND, "numba_warmup_s": jit_s,
        "generate_inputs_s": generate_s,
        "python": sys.version.split()[0], "machine": platform.machine(),
    })
    out = Path(args.out)
    with atomic_path(out) as tmp_out:
        tmp_out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("star_two_arms_seconds_per_core", "target_met",
                                               "bic_share_of_star")}))
    for arm in ("vis", "nir"):
        o, g = report["observed"][arm], report["grid"][arm]
        print(f"{arm}: {o['stars_per_s_per_core']:.2f} stars/s/core "
              f"({o['seconds_per_star'] * 1e3:.0f} ms: " + ", ".join(
                  f"{k} {v * 1e3:.0f}" for k, v in o["step_seconds"].items())
              + f"; BIC {o['bic_share_of_arm']:.0%}), grid {g['spectra_per_s_per_core']:.1f}"
              f" spectra/s/core")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
