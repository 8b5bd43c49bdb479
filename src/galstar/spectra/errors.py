"""Errors and reject records shared by the stellar-spectrum readers and steps.

Two kinds of failure: a file that cannot be read as its format says
(:class:`SpectrumFormatError`, raised, naming the file) and a spectrum that reads but
must not be used (:class:`Rejected`, carrying a short reason that callers record in a
``reject_reason`` column and go on with the next star).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SpectrumFormatError", "Rejected", "RejectRecord"]


class SpectrumFormatError(ValueError):
    """A spectrum or grid file is unreadable, truncated or lacks a required part.

    The message always starts with the file's path.
    """


class Rejected(Exception):  # noqa: N818 - a control-flow outcome, not a bug
    """A readable spectrum that a preprocessing step refuses, with the reason.

    Parameters
    ----------
    reason : str
        ``"<code>: <detail>"``, e.g. ``"discontinuity: flux ratio 4.1 between orders 12
        and 13"``. The code (before the colon) is one of the reasons documented by the
        step that raises it.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def code(self) -> str:
        """The reason's code, the part before the first colon."""
        return self.reason.split(":", 1)[0]


@dataclass(frozen=True)
class RejectRecord:
    """One refused input, as written to a rejects table.

    Attributes
    ----------
    source : str
        The file (or catalogue id) refused.
    arm : str
        ``"vis"``, ``"nir"`` or ``""`` when not arm-specific.
    reason : str
        ``"<code>: <detail>"`` as in :class:`Rejected`.
    """

    source: str
    arm: str
    reason: str
