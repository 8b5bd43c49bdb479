# Settings and input functions of the PS1 / rest-frame rules (panstarrs.smk), kept apart
# from the rules as common.smk is.

SFI_DATA = (config.get("spectra_from_images") or {}).get("data") or {}
# how cutouts become model inputs (galstar.imaging.ps1.Ps1ImageSettings)
SFI_PANSTARRS = SFI_DATA.get("panstarrs") or {}
# the rest-frame grid, normalisation and gap filling (galstar.spectra.restframe)
SFI_RESTFRAME = SFI_DATA.get("restframe") or {}
# the PS1 cutout side: the mock renders it, the live service is asked for it
SFI_SIZE = int(SFI_PANSTARRS.get("size", 224))
SFI_MOCK_PS1 = {**(config["mock"].get("panstarrs") or {}), "size": SFI_SIZE}
PANSTARRS_RAW = paths.fill(paths.PANSTARRS_RAW, archive=ARCHIVE)
PS1_LIVE = (
    dict(
        filenames_url=cfg("live", "panstarrs", "filenames_url"),
        fitscut_url=cfg("live", "panstarrs", "fitscut_url"),
    )
    if ARCHIVE == "live"
    else {}
)


def ps1_mock():
    """The mock PS1 cutouts' directory (mock runs only)."""
    return f"{MOCK_ROOT}/ps1" if ARCHIVE == "mock" else []


def sfi_stage_targets():
    """Every contract file of every shard, the grid and the reject counts."""
    per_shard = (paths.SFI_TABLE, paths.SFI_IMAGES, paths.SFI_SPECTRA, paths.SFI_TRUTH,
                 paths.SFI_REJECTS)
    return [f for p in per_shard for f in shard_paths(p)] + [paths.SFI_GRID,
                                                              paths.SFI_REJECT_COUNTS]


if "spectra_from_images" in METHODS:
    STAGE_TARGETS.append(sfi_stage_targets)
