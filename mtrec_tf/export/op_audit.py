"""Which op types a SavedModel needs, and whether a serving runtime has them.

A SavedModel holding an op its runtime lacks fails at load time (`Op type not registered
'NormalizeUTF8' in binary`), so the export checks every op of the graph *and* of every
function in its library (`stripped_op_list` misses ops that only occur inside functions).

Targets:
    core            core TensorFlow: any TensorFlow runtime, Vertex AI prebuilt containers included;
    tfserving       core + the TF.Text ops linked into tensorflow_model_server 2.20 (TF.Text 2.20);
    tfserving-2.13  core + TF.Text 2.12.1's ops (TF Serving 2.13 to 2.19), which lack the
                    round-robin trimmer and Utf8Binarize ops (tensorflow/serving#2267).
"""

from __future__ import annotations

import os

from mtrec_tf.errors import OpAuditError
from mtrec_tf.io_utils import join, read_bytes

TARGETS = ("core", "tfserving", "tfserving-2.13")

# The ops TF.Text registers (tensorflow-text 2.20/2.21), by name.
TEXT_OPS = frozenset({
    "CaseFoldUTF8", "ConstrainedSequence", "FastBertNormalize", "FastWordpieceTokenizeWithOffsets",
    "FindSourceOffsets", "MaxSpanningTree", "NormalizeUTF8", "NormalizeUTF8WithOffsetsMap", "PhraseTokenize",
    "RegexSplitWithOffsets", "RougeL", "SentenceFragments", "SentenceFragmentsV2", "SentencepieceDetokenizeOp",
    "SentencepieceIdToStringOp", "SentencepieceOp", "SentencepieceStringToIdOp", "SentencepieceTokenizeOp",
    "SentencepieceTokenizeWithOffsetsOp", "SentencepieceVocabSizeOp", "SplitMergeTokenizeWithOffsets",
    "TFText>BoiseTagsToOffsets", "TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets",
    "TFText>FastSentencepieceDetokenize", "TFText>FastSentencepieceTokenize", "TFText>FastWordpieceDetokenize",
    "TFText>NgramsStringJoin", "TFText>OffsetsToBoiseTags", "TFText>PhraseDetokenize",
    "TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize",
    "TFText>WhitespaceTokenizeWithOffsetsV2", "TokenizerFromLogits", "UnicodeScriptTokenizeWithOffsets",
    "WhitespaceTokenizeWithOffsets", "WordpieceTokenizeWithOffsets",
})
_NOT_IN_TEXT_2_12 = frozenset({"TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize"})


def saved_model_op_types(export_dir: str | os.PathLike) -> set[str]:
    """Every op type in the graphs of a SavedModel and in all of their library functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(read_bytes(join(export_dir, "saved_model.pb")))
    ops: set[str] = set()
    functions: set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            functions.add(function.signature.name)
            ops.update(node.op for node in function.node_def)
    return ops - functions  # a node may call a library function by its name


def core_op_types() -> frozenset[str]:
    """Op types of core TensorFlow: everything registered in this process but TF.Text's."""
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session
    from tensorflow.python.util import compat

    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(compat.as_bytes(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList())))
    return frozenset(op.name for op in op_list.op) - TEXT_OPS


def allowed_op_types(target: str) -> frozenset[str]:
    """Op types a runtime of `target` can load."""
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; expected one of {', '.join(TARGETS)}")
    core = core_op_types()
    if target == "core":
        return core
    if target == "tfserving":
        return core | TEXT_OPS
    return core | (TEXT_OPS - _NOT_IN_TEXT_2_12)


def audit_op_types(op_types: set[str], target: str) -> list[str]:
    """The op types of `op_types` that `target` lacks, sorted."""
    return sorted(op_types - allowed_op_types(target))


def check_saved_model(export_dir: str | os.PathLike, target: str) -> set[str]:
    """The SavedModel's op types; raises `OpAuditError` listing those `target` lacks."""
    op_types = saved_model_op_types(export_dir)
    missing = audit_op_types(op_types, target)
    if missing:
        raise OpAuditError(
            f"the export needs op types that a {target!r} runtime does not have: {', '.join(missing)}"
            + ("; export with --target tfserving, or keep TF.Text ops out of the model" if target == "core" else "")
        )
    return op_types

