"""SavedModel export for TF Serving: signatures on raw features, op audit, warmup, config.

`TARGETS` and `OpAuditError` come without TensorFlow (the command line builds its parser from
them); the rest is imported on first use.
"""

from __future__ import annotations

from typing import Any

from mtrec_tf.export.op_audit import TARGETS, OpAuditError

__all__ = ["ExportResult", "OpAuditError", "TARGETS", "export_model", "next_version"]

_FROM_EXPORT = ("ExportResult", "export_model", "next_version")


def __getattr__(name: str) -> Any:
    if name in _FROM_EXPORT:
        from mtrec_tf.export import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
