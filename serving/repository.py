"""The models a development server serves: the newest version under a model base path, reloaded
when a newer complete version appears, as TF Serving's default "latest version" policy does."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from serving.contract import CONTRACT_FILE, DEFAULT_MODEL_NAME, Contract, read_contract
from serving.status_codes import RequestError
from serving.tensors import DEFAULT_SIGNATURE, TensorSpec, conform_inputs

logger = logging.getLogger(__name__)

SAVED_MODEL_FILE = "saved_model.pb"
SERVE_TAG = "serve"
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000   # TF Serving's limit
STOP_WAIT_SECONDS = 0.5     # how long `stop()` waits for a poll that is loading a version


@dataclasses.dataclass(frozen=True)
class ServedSignature:
    """One signature of a loaded version: its input and output specs and the function to call."""

    name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    function: Callable[..., dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """A version's state as TF Serving reports it: START, LOADING, AVAILABLE, UNLOADING or END,
    and the `tensorflow.error.Code` name and message of its health."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


class LoadedModel:
    """One loaded version of a SavedModel. Like TF Serving, it replays the export's warmup requests
    (`assets.extra/tf_serving_warmup_requests`, PredictionLog records) and fails to load if one fails.
    It also reads the export's contract (`assets.extra/contract.json`, None for an export without
    one), which the metadata answers carry; a contract that cannot be read fails the load.

    Args:
        path: the version directory (holding `saved_model.pb`).
        version: its version number.
    """

    def __init__(self, path: Path, version: int):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.path = Path(path)
        self.version = version
        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString((self.path / SAVED_MODEL_FILE).read_bytes())
        graphs = [g for g in saved_model.meta_graphs if SERVE_TAG in g.meta_info_def.tags]
        if not graphs:
            raise ValueError(f"{self.path} has no MetaGraph tagged {SERVE_TAG!r}")
        self.signature_defs = graphs[0].signature_def
        """Every SignatureDef of the serving MetaGraph (as TF Serving's metadata lists them)."""
        self.contract: Contract | None = read_contract(self.path) if (self.path / CONTRACT_FILE).is_file() else None
        self._module = tf.saved_model.load(str(self.path), tags=[SERVE_TAG])
        self.signatures = {name: ServedSignature(name, _specs(self.signature_defs[name].inputs),
                                                 _specs(self.signature_defs[name].outputs), function)
                           for name, function in self._module.signatures.items()}
        self.warmup_requests = self._warm_up()

    def predict(self, signature: ServedSignature, inputs: dict[str, np.ndarray],
                output_filter: list[str] | None = None) -> dict[str, np.ndarray]:
        """Runs `signature` on checked inputs; returns the outputs named in `output_filter` (all when empty)."""
        import tensorflow as tf

        inputs = conform_inputs(inputs, signature.inputs)
        names = list(output_filter or sorted(signature.outputs))
        for index, name in enumerate(names):
            if name not in signature.outputs:
                raise RequestError("INVALID_ARGUMENT", f"output tensor alias not found in signature: {name} "
                                   f"Outputs expected to be in the set {{{','.join(sorted(signature.outputs))}}}.")
            if name in names[:index]:
                raise RequestError("INVALID_ARGUMENT", f"duplicate output tensor alias: {name}")
        try:
            outputs = signature.function(**{name: tf.constant(value, dtype=signature.inputs[name].dtype)
                                            for name, value in inputs.items()})
        except tf.errors.OpError as error:
            raise RequestError.from_code_number(error.error_code, _op_message(error.message)) from None
        except (TypeError, ValueError) as error:
            raise RequestError("INVALID_ARGUMENT", str(error)) from None
        return {name: outputs[name].numpy() for name in names}

    def _warm_up(self) -> int:
        """Replays the warmup PredictRequests, if any; returns how many."""
        path = self.path / WARMUP_FILE
        if not path.exists():
            return 0
        import tensorflow as tf

        try:
            from tensorflow_serving.apis import prediction_log_pb2
        except ImportError:
            logger.warning("not replaying %s: tensorflow-serving-api is not installed", path)
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(str(path)):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ValueError(f"{path} holds more than {MAX_WARMUP_RECORDS} warmup records")
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(f"warmup record {count} of {path} is a {log.WhichOneof('log_type')}; "
                                 "the development server replays predict_log only")
            request = log.predict_log.request
            name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            if name not in self.signatures:
                raise ValueError(f"warmup record {count} of {path} asks for signature {name!r}, which is not "
                                 f"in the model ({', '.join(sorted(self.signatures))})")
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            try:
                self.predict(self.signatures[name], inputs, list(request.output_filter))
            except RequestError as error:
                raise RequestError(error.code, f"warmup record {count} of {path} failed: {error.message}") from None
        logger.info("replayed %d warmup requests of %s", count, self.path)
        return count


class ModelRepository:
    """Serves the newest loadable version under `base_path/<version>/`; thread-safe.

    A version directory counts once it holds `saved_model.pb` (exporters rename complete directories
    into place). `refresh()` loads the newest such version that is not the one served, and swaps it
    in once loaded; a version that fails to load is reported in `status()` (state END with its error)
    while the old version keeps serving (or, when none is served yet, the next newest is tried), and it
    is retried only when its `saved_model.pb` changes. A base path that cannot be listed (not there
    yet) is logged once, and again only when that changes.
    `start()` polls every `poll_seconds` in a daemon thread.

    Args:
        base_path: the model base path.
        model_name: the name clients ask for.
        poll_seconds: how often the background poll looks for new versions.
    """

    def __init__(self, base_path: str | Path, model_name: str = DEFAULT_MODEL_NAME, poll_seconds: float = 1.0):
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.base_path = Path(base_path)
        self.model_name = model_name
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()            # guards the fields below
        self._refresh_lock = threading.Lock()    # one load at a time
        self._current: LoadedModel | None = None
        self._states: dict[int, VersionStatus] = {}
        self._failed: dict[int, float] = {}      # version -> mtime of the saved_model.pb that failed
        self._listing_error: str | None = None   # why the base path could not be listed, last time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Loads the newest version now, then polls in the background."""
        self.refresh()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name=f"poll-{self.model_name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ends the poll; a version it is loading finishes loading in its daemon thread, unwaited for."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            if self._thread.is_alive():
                logger.info("not waiting for %s to finish loading a version", self.model_name)
            self._thread = None

    def refresh(self) -> int | None:
        """Loads the newest complete version if it is not the one served; returns the served version."""
        with self._refresh_lock:
            for version, mtime in self._candidates():
                current = self._current
                if current is not None and current.version == version:
                    break
                if self._failed.get(version) == mtime:
                    continue
                if self._load(version, mtime):
                    break
            current = self._current
            return None if current is None else current.version

    def get(self, model_name: str, version: int | None = None) -> LoadedModel:
        """The served version (`version` None) or that exact version; NOT_FOUND or UNAVAILABLE."""
        request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
        with self._lock:
            current = self._current
        if model_name != self.model_name:
            raise RequestError("NOT_FOUND", f"Servable not found for request: {request}")
        if current is None:
            raise RequestError("UNAVAILABLE", f"No version of model {model_name} is loaded yet "
                                              f"(looking under {self.base_path})")
        if version is not None and version != current.version:
            raise RequestError("NOT_FOUND", f"Servable not found for request: {request}")
        return current

    def status(self, model_name: str, version: int | None = None) -> list[VersionStatus]:
        """TF Serving's `GetModelStatus`: every version it knows of, newest first, or that one."""
        with self._lock:
            states = dict(self._states)
        if model_name != self.model_name:
            states = {}
        if version is None:
            if not states:
                raise RequestError("NOT_FOUND", f"Could not find any versions of model {model_name}")
            return [states[v] for v in sorted(states, reverse=True)]
        if version not in states:
            raise RequestError("NOT_FOUND", f"Could not find version {version} of model {model_name}")
        return [states[version]]

    def _candidates(self) -> list[tuple[int, float]]:
        """Complete version directories, newest first, with their saved_model.pb's mtime."""
        try:
            entries = list(self.base_path.iterdir())
        except OSError as error:
            self._note_listing(error)
            return []
        self._note_listing(None)
        found = []
        for entry in entries:
            if entry.name.isdigit() and int(entry.name) > 0:
                try:
                    found.append((int(entry.name), (entry / SAVED_MODEL_FILE).stat().st_mtime))
                except OSError:
                    continue    # not complete yet
        return sorted(found, reverse=True)

    def _note_listing(self, error: OSError | None) -> None:
        """Logs when the base path stops or starts being listable, not at every poll."""
        reason = None if error is None else f"{type(error).__name__}: {error.strerror or error}"
        if reason == self._listing_error:
            return
        if reason is None:
            logger.info("model base path %s can be listed now", self.base_path)
        else:
            logger.warning("cannot list model base path %s (%s); looking again every %gs, quietly, until it can",
                           self.base_path, reason, self.poll_seconds)
        self._listing_error = reason

    def _load(self, version: int, mtime: float) -> bool:
        self._set_state(VersionStatus(version, "LOADING"))
        logger.info("loading %s version %d from %s", self.model_name, version, self.base_path / str(version))
        try:
            model = LoadedModel(self.base_path / str(version), version)
        except Exception as error:  # noqa: BLE001  (any load failure is reported, never fatal)
            logger.error("failed to load %s version %d: %s", self.model_name, version, error)
            code = _code_name(error)
            with self._lock:
                self._failed[version] = mtime
                self._states[version] = VersionStatus(version, "END", code, f"{type(error).__name__}: {error}")
            return False
        with self._lock:
            previous, self._current = self._current, model
            self._failed.pop(version, None)
            self._states[version] = VersionStatus(version, "AVAILABLE")
            if previous is not None:
                self._states[previous.version] = VersionStatus(previous.version, "END")
        logger.info("serving %s version %d", self.model_name, version)
        return True

    def _set_state(self, status: VersionStatus) -> None:
        with self._lock:
            self._states[status.version] = status

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001  (the poll must outlive one bad refresh)
                logger.exception("refreshing %s failed", self.model_name)


def _specs(infos: Any) -> dict[str, TensorSpec]:
    import tensorflow as tf

    specs = {}
    for key, info in infos.items():
        shape = info.tensor_shape
        dims = None if shape.unknown_rank else tuple(None if d.size < 0 else d.size for d in shape.dim)
        specs[key] = TensorSpec(tf.dtypes.as_dtype(info.dtype).name, dims)
    return specs


def _op_message(message: str) -> str:
    """A TensorFlow op error without the "Graph execution error" preamble of eager calls."""
    head, found, tail = message.partition("<stack traces unavailable>\n")
    return tail if found and head.startswith("Graph execution error:") else message


def _code_name(error: Exception) -> str:
    if isinstance(error, RequestError):
        return error.code
    code = getattr(error, "error_code", None)
    return RequestError.from_code_number(code, "").code if isinstance(code, int) else "UNKNOWN"
