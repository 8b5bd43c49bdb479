"""The order-shape filter: keep spectra whose order arrays have a configured shape.

The thesis kept only templates of (61, 3699) VIS and (56, 1999) NIR orders so that
every star's stitched spectrum is built from the same pixels; the defaults here are
the shapes CARACAL files have once read ((61, 4096) and (56, 2040)). Everything else is
recorded as ``wrong_shape`` with the shape found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from galstar.options import check_option_names
from galstar.spectra.echelle import ARMS, READ_SHAPES, EchelleSpectrum
from galstar.spectra.errors import RejectRecord

__all__ = ["ShapeSettings", "check_shape", "filter_shapes"]


def _default_shapes() -> dict[str, tuple[tuple[int, int], ...]]:
    return {arm: (shape,) for arm, shape in READ_SHAPES.items()}


@dataclass(frozen=True)
class ShapeSettings:
    """Which order shapes are kept.

    Attributes
    ----------
    shapes : dict
        Arm -> accepted (n_orders, n_px) shapes, after the NIR split.
    accept_merged : bool
        Keep one-row (merged, tabular) spectra of any length: they have no orders to
        compare, and are resampled onto the arm grid like any stitched spectrum.
    """

    shapes: Mapping[str, tuple[tuple[int, int], ...]] = field(default_factory=_default_shapes)
    accept_merged: bool = True

    @classmethod
    def from_mapping(cls, config: Mapping | None, key: str = "shape filter"
                     ) -> ShapeSettings:
        """Build from a config mapping ``{shapes: {vis: [[61, 4096]], ...},
        accept_merged: bool}``; unknown keys or arms raise ``ValueError`` naming them."""
        config = dict(config or {})
        check_option_names(config, cls, key)
        shapes = _default_shapes()
        for arm, listed in (config.get("shapes") or {}).items():
            if arm not in ARMS:
                raise ValueError(f"shape filter: shapes.{arm}: arm must be one of {ARMS}")
            shapes[arm] = tuple(tuple(int(n) for n in shape) for shape in listed)
        return cls(shapes=shapes, accept_merged=bool(config.get("accept_merged", True)))


def check_shape(spec: EchelleSpectrum, settings: ShapeSettings = ShapeSettings()) -> str:
    """``""`` if the spectrum's shape is accepted, else ``"wrong_shape: ..."``."""
    if settings.accept_merged and spec.n_orders == 1 and spec.form == "table":
        return ""
    accepted = settings.shapes.get(spec.arm, ())
    if spec.shape in accepted:
        return ""
    listed = ", ".join(str(s) for s in accepted) or "none configured"
    return f"wrong_shape: {spec.arm} orders {spec.shape}, accepted {listed}"


def filter_shapes(spectra: Iterable[EchelleSpectrum],
                  settings: ShapeSettings = ShapeSettings()
                  ) -> tuple[list[EchelleSpectrum], list[RejectRecord]]:
    """Split spectra into kept and rejected (with the reason) by order shape.

    Parameters
    ----------
    spectra : iterable of EchelleSpectrum
        Spectra as read.
    settings : ShapeSettings
        Accepted shapes per arm.

    Returns
    -------
    kept : list of EchelleSpectrum
        In input order.
    rejects : list of RejectRecord
        One per refused spectrum, reason ``wrong_shape: ...``.
    """
    kept, rejects = [], []
    for spec in spectra:
        reason = check_shape(spec, settings)
        if reason:
            rejects.append(RejectRecord(source=spec.path, arm=spec.arm, reason=reason))
        else:
            kept.append(spec)
    return kept, rejects
