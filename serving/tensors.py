"""JSON <-> NumPy conversion for TF Serving's REST predict API, in row and columnar form.

Mirrors `tensorflow_serving/util/json_tensor.cc` (TF Serving 2.x): the request forms, the type checks
and their messages, `{"b64": ...}` for binary strings, and float32 outputs written with the fewest
digits that round-trip. Deliberate differences: strings that are not valid UTF-8 come back as
`{"b64": ...}` (TF Serving writes them raw), errors about one input name that input, and
`conform_inputs` checks what the serving contract promises (one row per request in every input,
history inputs of one length) and pads an empty history to one padding event.
NumPy only: no TensorFlow here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from serving.contract import HISTORY_INPUTS, SIGNATURES
from serving.status_codes import RequestError, invalid

ROW = "row"
COLUMNAR = "columnar"
DEFAULT_SIGNATURE = "serving_default"

_NUMPY_DTYPES = {"string": object, "bool": np.bool_, "float16": np.float16, "float32": np.float32,
                 "float64": np.float64, "int8": np.int8, "int16": np.int16, "int32": np.int32,
                 "int64": np.int64, "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
                 "uint64": np.uint64}
_INT_RANGES = {name: (int(np.iinfo(t).min), int(np.iinfo(t).max))
               for name, t in _NUMPY_DTYPES.items() if name.startswith(("int", "uint"))}
_FLOAT_LIMITS = {name: ((1 << np.finfo(t).nmant + 1) - 1, float(np.finfo(t).max))
                 for name, t in _NUMPY_DTYPES.items() if name.startswith("float")}
# TensorFlow's `DataTypeString`, as TF Serving writes it in messages.
_TF_NAMES = {"float16": "half", "float32": "float", "float64": "double"}
# The contract's inputs: each holds one row per request (the first dimension).
_BATCH_INPUTS = frozenset(name for signature in SIGNATURES.values() for name in signature.inputs)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A signature tensor: a TensorFlow dtype name ("string", "float32", ...) and its shape
    (`None` for an unknown dimension; the whole shape `None` for an unknown rank)."""

    dtype: str
    shape: tuple[int | None, ...] | None

    def describe(self) -> str:
        dims = "?" if self.shape is None else ",".join("-1" if d is None else str(d) for d in self.shape)
        return f"{tf_type_name(self.dtype)} [{dims}]"


def tf_type_name(dtype: str) -> str:
    return _TF_NAMES.get(dtype, dtype)


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or INVALID_ARGUMENT."""
    if not body.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise invalid(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise invalid(f"JSON Value: {_dump(document)} Is not object")
    return document


def signature_name_of(request: dict[str, Any]) -> str:
    name = request.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(f"JSON Value: {_dump(request)} not formatted correctly. "
                      "'signature_name' key must be a string value.")
    return name or DEFAULT_SIGNATURE


def request_to_arrays(request: dict[str, Any],
                      inputs: dict[str, TensorSpec]) -> tuple[dict[str, np.ndarray], str]:
    """The input arrays of a predict request, and its form (`ROW` or `COLUMNAR`)."""
    if "instances" in request and "inputs" in request:
        raise invalid(f"JSON Value: {_dump(request)} Not formatted correctly expecting only one of "
                      "'inputs' or 'instances' keys to exist ")
    if "instances" in request:
        return _instances_to_arrays(request["instances"], inputs), ROW
    if "inputs" in request:
        return _inputs_to_arrays(request["inputs"], inputs), COLUMNAR
    raise invalid("Missing 'inputs' or 'instances' key")


def check_input_names(names: Iterable[str], specs: dict[str, TensorSpec]) -> None:
    """INVALID_ARGUMENT unless `names` are exactly the signature's inputs (TF Serving's messages)."""
    sent, wanted = set(names), set(specs)
    if len(sent) != len(wanted):
        raise invalid(f"input size does not match signature: {len(sent)}!={len(wanted)} "
                      f"len({{{_join(sent)}}}) != len({{{_join(wanted)}}}). Sent extra: "
                      f"{{{_join(sent - wanted)}}}. Missing but required: {{{_join(wanted - sent)}}}.")
    for name in sorted(sent - wanted):
        raise invalid(f"input tensor alias not found in signature: {name}. "
                      f"Inputs expected to be in the set {{{_join(wanted)}}}.")


def check_inputs(arrays: dict[str, np.ndarray], specs: dict[str, TensorSpec]) -> None:
    """INVALID_ARGUMENT unless `arrays` holds exactly the signature's inputs, each of a fitting shape."""
    check_input_names(arrays, specs)
    for name, array in arrays.items():
        spec = specs[name]
        if spec.shape is not None and (len(spec.shape) != array.ndim or any(
                want is not None and want != got for want, got in zip(spec.shape, array.shape))):
            raise invalid(f"input {name} has shape [{','.join(map(str, array.shape))}] but the signature "
                          f"expects {spec.describe()}")


def conform_inputs(arrays: dict[str, np.ndarray], specs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    """`arrays` checked against the signature and the serving contract.

    INVALID_ARGUMENT, naming the inputs, when `check_inputs` fails, when the contract's inputs hold
    different numbers of rows, or when the history inputs hold different numbers of events. A
    history of no events goes to the model as it is: an export reads it as no events.
    """
    check_inputs(arrays, specs)
    _check_batch_sizes(arrays)
    _check_history_lengths(arrays, [name for name in HISTORY_INPUTS if name in arrays and arrays[name].ndim == 2])
    return arrays


def _check_batch_sizes(arrays: dict[str, np.ndarray]) -> None:
    sizes = {name: array.shape[0] for name, array in arrays.items() if name in _BATCH_INPUTS and array.ndim}
    if len(set(sizes.values())) < 2:
        return
    by_size: dict[int, list[str]] = {}
    for name in sorted(sizes):
        by_size.setdefault(sizes[name], []).append(name)
    described = "; ".join(f"{', '.join(names)}: {_count(size, 'row')}"
                          for size, names in sorted(by_size.items(), reverse=True))
    raise invalid(f"Inputs hold different batch sizes ({described}): every input holds one row per request")


def _check_history_lengths(arrays: dict[str, np.ndarray], names: list[str]) -> None:
    if not names:
        return
    first, length = names[0], arrays[names[0]].shape[1]
    for name in names[1:]:
        if arrays[name].shape[1] != length:
            raise invalid(f"input {name} holds {_count(arrays[name].shape[1], 'event')} per row but {first} "
                          f"holds {length}: {', '.join(names)} describe the same events and must be of one length")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def arrays_to_response(outputs: dict[str, np.ndarray], form: str) -> dict[str, Any]:
    """`{"predictions": [...]}` (row form) or `{"outputs": ...}` (columnar form)."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    values = {name: _to_json(name, outputs[name]) for name in names}
    if form == COLUMNAR:
        return {"outputs": values if len(names) > 1 else values[names[0]]}
    batch = None
    for name in names:
        shape = outputs[name].shape
        if not shape:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and shape[0] != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}")
        batch = shape[0]
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    assert batch is not None  # set by the loop over the (non-empty) names
    return {"predictions": [{name: values[name][row] for name in names} for row in range(batch)]}


def _instances_to_arrays(instances: Any, specs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise invalid("Excepting 'instances' to be an list/array")
    if not instances:
        raise invalid("No values in 'instances' array")
    by_name = _is_named(instances[0])
    if not by_name and len(specs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors "
                      "required as per tensorinfo_map")
    values: dict[str, list] = {name: [] for name in specs}
    shapes: dict[str, list[int]] = {}
    for index, element in enumerate(instances):
        if by_name != _is_named(element):
            what = "object but got list" if by_name else "value/list but got object"
            raise invalid(f"Expecting {what} at item {index} of input list")
        items = element.items() if by_name else [(next(iter(specs)), element)]
        for name, item in items:
            where = f"element: {index} key: {name}" if by_name else f"element: {index}"
            try:
                if name not in specs:
                    raise invalid(f"JSON object: does not have named input: {name}")
                shape = _shape(item)
                flat = _flatten(item, shape, specs[name].dtype)
                if name not in shapes:
                    shapes[name] = shape
                elif math.prod(shape) != math.prod(shapes[name]):
                    raise invalid(f"Expecting tensor size: {math.prod(shapes[name])} but got: {math.prod(shape)}")
                elif shape != shapes[name]:
                    raise invalid(f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}")
            except RequestError as error:
                raise RequestError(error.code, f"Failed to process {where} of 'instances' list. "
                                               f"Error: {error.code}: {error.message}") from None
            values[name].extend(flat)
        if by_name and set(element) != set(specs):
            missing = ", ".join(sorted(set(specs) - set(element)))
            raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                          f"{_dump(element)} keys must be equal to: {_join(specs)}"
                          + (f" (missing: {missing})" if missing else ""))
    return {name: _array(values[name], [len(instances), *shapes[name]], specs[name].dtype) for name in specs}


def _inputs_to_arrays(inputs: Any, specs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not _is_named(inputs):
        if len(specs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                          "required as per tensorinfo_map")
        inputs = {next(iter(specs)): inputs}
    arrays = {}
    for name, spec in specs.items():
        if name not in inputs:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        try:
            shape = _shape(inputs[name])
            arrays[name] = _array(_flatten(inputs[name], shape, spec.dtype), shape, spec.dtype)
        except RequestError as error:
            raise RequestError(error.code, f"Failed to process input: {name} of 'inputs' object. "
                                           f"Error: {error.code}: {error.message}") from None
    return arrays


def _is_named(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _shape(value: Any) -> list[int]:
    """The dense shape a nested list claims, read along its first elements."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value: Any, shape: list[int], dtype: str) -> list:
    flat: list = []
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, list):
            if level != len(shape):
                raise invalid(f"JSON Value: {_dump(item)} found at incorrect level: {level + 1} in the JSON DOM. "
                              f"Expected at level: {len(shape)}")
            flat.append(_leaf(item, dtype))
            continue
        if level >= len(shape):
            raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
        if len(item) != shape[level]:
            raise invalid(f"Encountered list at unexpected size: {len(item)} at level: {level} "
                          f"expected size: {shape[level]}")
        stack.extend((child, level + 1) for child in reversed(item))
    return flat


def _leaf(value: Any, dtype: str) -> Any:
    """One JSON value as a value of `dtype`, checked as TF Serving's `AddValueToTensor` does."""
    if dtype == "string":
        if isinstance(value, dict):
            return _decode_b64(value)
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid(f"JSON Value: {_dump(value)} holds a lone UTF-16 surrogate, which is not text; "
                              'send binary strings as {"b64": ...}') from None
        raise _type_error(value, dtype)
    if dtype not in _NUMPY_DTYPES:
        raise RequestError("UNIMPLEMENTED", f"Conversion of JSON Value: {_dump(value)} to type: {dtype}")
    if dtype == "bool":
        if isinstance(value, bool):
            return value
        raise _type_error(value, dtype)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, dtype)
    if dtype in _FLOAT_LIMITS:
        max_int, max_float = _FLOAT_LIMITS[dtype]
        lossless = abs(value) <= max_int if isinstance(value, int) else (
            not math.isfinite(value) or abs(value) <= max_float)
        if not lossless:
            raise invalid(f"Cannot convert JSON value: {_dump(value)} to {tf_type_name(dtype)} "
                          "without loss of precision.")
        return value
    low, high = _INT_RANGES[dtype]
    if isinstance(value, int) and low <= value <= high:
        return value
    raise _type_error(value, dtype)


def _decode_b64(value: dict) -> bytes:
    if not _is_b64(value):
        raise invalid(f"JSON Value: {_dump(value)} not formatted correctly for base64 data")
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def _type_error(value: Any, dtype: str) -> RequestError:
    return invalid(f"JSON Value: {_dump(value)} Type: {_json_type(value)} is not of expected type: "
                   f"{tf_type_name(dtype)}")


def _json_type(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return str(value).replace("None", "Null")
    for kind, name in ((dict, "Object"), (list, "Array"), (str, "String")):
        if isinstance(value, kind):
            return name
    return "Number"


def _array(flat: list, shape: list[int], dtype: str) -> np.ndarray:
    if dtype == "string":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.array(flat, dtype=_NUMPY_DTYPES[dtype]).reshape(shape)


def _to_json(name: str, array: np.ndarray) -> Any:
    """An output array as nested JSON lists (TF Serving's `AddTensorValues`)."""
    kind = array.dtype.kind
    if kind in "OSU":
        as_b64 = name.endswith("_bytes")
        flat = [_string_to_json(value, as_b64) for value in array.ravel().tolist()]
    elif kind == "f" and array.dtype != np.float64:
        flat = [float(text) for text in array.ravel().astype(str)]   # fewest digits that round-trip
    elif kind in "fiub":
        flat = array.ravel().tolist()
    else:
        raise invalid(f"Failed to write JSON value for tensor type: {array.dtype}")
    return _nest(flat, array.shape)


def _string_to_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _nest(flat: list, shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_nest(flat[row * step:(row + 1) * step], shape[1:]) for row in range(shape[0])]


def _shape_text(shape: list[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _join(names: Any) -> str:
    return ",".join(sorted(names))


def _dump(value: Any) -> str:
    """`value` as JSON for a message, cut at 200 characters; lone surrogates stay escaped (`\\ud800`)."""
    text = json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 200 else text[:200] + "..."
