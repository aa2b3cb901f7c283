"""Errors the engine reports to people: one line, no traceback."""
from __future__ import annotations


class AnnotationError(Exception):
    """Any input or reference problem that stops a run; str() is the one-line message."""


class VcfFormatError(AnnotationError):
    """A malformed VCF. Carries the 1-based line number when one applies."""

    def __init__(self, message: str, line_no: int | None = None) -> None:
        self.line_no = line_no
        self.reason = message
        super().__init__(f"line {line_no}: {message}" if line_no else message)

    def __reduce__(self) -> tuple:   # pickled whole (the VCF reader process sends it to the parent)
        return (type(self), (self.reason, self.line_no))


class BundleError(AnnotationError):
    """A reference bundle that cannot be built or loaded."""
