"""Settings of the mock SDSS products (spectra, ugriz cutouts, DR7 flat files) and their
validation (a future config ``mock.sdss``).

Import-light (no simulator, no file formats), so a config check can validate the
options at parse time with :func:`validate_sdss_options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from galstar.options import check_option_names

__all__ = ["SdssMockSettings", "validate_sdss_options", "sdss_option_names"]


@dataclass(frozen=True)
class SdssMockSettings:
    """What shapes the mock SDSS products of an existing mock archive.

    Attributes
    ----------
    n_spectra : int or None
        Write spectrum files for at most this many galaxy rows of ``galSpec.fits`` (the
        first in ``specObjID`` order, i.e. plate by plate; plates are filled in random
        order, so the subset is a random sample); None: every galaxy row. The DR7 flat
        files always cover every row.
    release : str
        SAS data-release directory (``sas/<release>/sdss/...``).
    run2d : int
        Reduction version directory (26 for the SDSS-I/II plates of the mock).
    sky_residual_fraction : float
        Sky-subtraction residual left in the flux, as a fraction of the sky lines.
    masked_runs_mean : float
        Mean number of rejected pixel runs (ivar = 0, 1-20 pixels) per spectrum.
    bad_spectrum_fraction : float
        Spectra with a dead fibre or a missing camera (truth records which).
    chunk : int
        Spectra simulated per batch (memory: ~60 kB x chunk x 8 arrays).
    n_images : int or None
        ugriz cutouts for at most this many galaxy rows (same order as the spectra);
        None: all. Rendering costs ~80 ms a cutout on one core.
    image_size : int
        Cutout side [pixels] (64 for the multimodal method).
    """

    n_spectra: int | None = None
    release: str = "dr17"
    run2d: int = 26
    sky_residual_fraction: float = 0.04
    masked_runs_mean: float = 1.5
    bad_spectrum_fraction: float = 0.005
    chunk: int = 256
    n_images: int | None = None
    image_size: int = 64

    @classmethod
    def from_options(cls, **opts: Any) -> SdssMockSettings:
        """Build from keyword options, checking names and ranges.

        Raises
        ------
        ValueError
            For an unknown key or a value out of range (the message names
            ``mock.sdss.<key>``).
        """
        check_option_names(opts, cls, "mock.sdss")
        s = cls(**opts)
        if s.n_spectra is not None and int(s.n_spectra) < 0:
            raise ValueError(f"mock.sdss.n_spectra must be >= 0 or null, got {s.n_spectra}")
        for key in ("sky_residual_fraction", "bad_spectrum_fraction"):
            value = float(getattr(s, key))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"mock.sdss.{key} must be in [0, 1], got {value}")
        if float(s.masked_runs_mean) < 0:
            raise ValueError(f"mock.sdss.masked_runs_mean must be >= 0, got {s.masked_runs_mean}")
        if s.n_images is not None and int(s.n_images) < 0:
            raise ValueError(f"mock.sdss.n_images must be >= 0 or null, got {s.n_images}")
        if int(s.image_size) < 8:
            raise ValueError(f"mock.sdss.image_size must be >= 8 pixels, got {s.image_size}")
        if int(s.chunk) < 1:
            raise ValueError(f"mock.sdss.chunk must be >= 1, got {s.chunk}")
        if int(s.run2d) < 0 or not str(s.release).strip():
            raise ValueError("mock.sdss.run2d must be >= 0 and mock.sdss.release non-empty")
        return s


def sdss_option_names() -> set[str]:
    """The keys the mock SDSS options accept (the :class:`SdssMockSettings` fields)."""
    return {f.name for f in fields(SdssMockSettings)}


def validate_sdss_options(options: Mapping[str, Any] | None) -> SdssMockSettings:
    """Check an options mapping without building anything (None: the defaults)."""
    return SdssMockSettings.from_options(**dict(options or {}))
