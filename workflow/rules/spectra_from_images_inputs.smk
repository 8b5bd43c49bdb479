# Settings and input functions of the spectra_from_images rules (spectra_from_images.smk),
# kept apart from the rules as common.smk is.

from galstar.methods import spectra_from_images as sfi

SFI_EXPERIMENTS = EXPERIMENTS.get("spectra_from_images", {})
SFI_CFG = cfg("spectra_from_images") if SFI_EXPERIMENTS else {}
SFI_VAE = SFI_CFG.get("vae") or {}
SFI_EVALUATION = method_evaluation("spectra_from_images") if SFI_EXPERIMENTS else {}
SFI_OUT = sfi.summary_outputs()
SFI_DECODED = paths.fill(f"{paths.METHOD}/decoded/validation.npz", method="spectra_from_images")


def sfi_file(template, name):
    return paths.fill(template, method="spectra_from_images", name=name, experiment=name)


def sfi_data():
    """The data contract's per-shard tables and rest-frame spectra (rule sfi_sample)."""
    return {"tables": shard_paths(paths.SFI_TABLE), "spectra": shard_paths(paths.SFI_SPECTRA)}


def sfi_table1_spec():
    """Experiment -> its architecture and the files Table 1 reads."""
    return {n: {"model": exp["model"], "model_path": sfi_file(paths.MODEL, n),
                "history": sfi_file(paths.HISTORY, n),
                "predictions": sfi_file(paths.PREDICTIONS, n)}
            for n, exp in SFI_EXPERIMENTS.items()}


def sfi_table1_inputs(wildcards):
    files = [f for spec in sfi_table1_spec().values() for k, f in spec.items() if k != "model"]
    return {"files": files, "baseline": sfi_file(paths.PREDICTIONS, "baseline-mean")}


def sfi_decode_inputs(wildcards):
    return {**sfi_data(), "truths": shard_paths(paths.SFI_TRUTH), "grid": paths.SFI_GRID,
            "targets": sfi.LATENTS, "transform": sfi.LATENT_TRANSFORM,
            "decoder": sfi.VAE["decoder"],
            "predictions": [sfi_file(paths.PREDICTIONS, n) for n in SFI_EXPERIMENTS]}
