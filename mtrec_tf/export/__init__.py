"""SavedModel export for TF Serving: signatures on raw features, op audit, warmup, config."""

from mtrec_tf.export.export import ExportResult, export_model, next_version
from mtrec_tf.export.op_audit import OpAuditError, TARGETS

__all__ = ["ExportResult", "OpAuditError", "TARGETS", "export_model", "next_version"]
