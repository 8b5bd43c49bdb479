"""The mock archive: the simulated universe written in each archive's real format.

Submodules: ``settings`` (``mock.options``), ``universe`` (draw and place the sources),
``skyserver`` (MPA-JHU rows), ``sweeps`` (DR9 sweep files), ``truth`` (the answers,
for scoring only), ``cutouts`` (the cutout service), ``writer`` (the whole archive),
``sources`` (mock or live, chosen once per data product), ``figures`` (overview);
for stars ``stellar`` (the stellar archive), ``stellar_settings``, ``btsettl``,
``carmenes``; for SDSS ``sdss_spectra`` (spec files, DR7 flat files), ``sdss_layout``
(the spec file format), ``mpajhu_dr7``, ``sdss_settings``, ``sdss_images`` (ugriz
cutouts), ``sdss_archive`` (those products served as the live clients download them).
Names below are imported on first use, so ``import galstar.mock`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["MockSettings", "validate_options", "build_mock_archive", "MockCutoutService",
           "CUT_ORDER", "RELEASE", "expected_cut", "spec_obj_id", "psf_fwhm_of_bricks",
           "build_stellar_mock", "StellarMockSettings", "validate_stellar_options",
           "build_sdss_spectra", "SdssMockSettings", "validate_sdss_options"]

_HOME = {
    "MockSettings": "settings",
    "validate_options": "settings",
    "build_mock_archive": "writer",
    "MockCutoutService": "cutouts",
    "CUT_ORDER": "skyserver",
    "expected_cut": "skyserver",
    "spec_obj_id": "skyserver",
    "RELEASE": "sweeps",
    "psf_fwhm_of_bricks": "universe",
    "build_stellar_mock": "stellar",
    "StellarMockSettings": "stellar_settings",
    "validate_stellar_options": "stellar_settings",
    "build_sdss_spectra": "sdss_spectra",
    "SdssMockSettings": "sdss_settings",
    "validate_sdss_options": "sdss_settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
