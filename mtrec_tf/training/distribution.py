"""The cluster a training process belongs to, and the distribution strategy made from it.

The cluster comes from `TF_CONFIG`, or else from Vertex AI's `CLUSTER_SPEC`, whose worker pools
map onto TensorFlow's task types: `workerpool0` is the chief, `workerpool1` the workers,
`workerpool2` parameter servers and `workerpool3` evaluators.

    cluster = resolve_cluster()           # reads the environment; no TensorFlow op runs
    strategy = make_strategy(cluster)     # first thing in the process (tensorflow#55178)

`MultiWorkerMirroredStrategy` configures collective ops, which must happen before any op
runs, so `make_strategy` is called at process start and the strategy is passed down.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from mtrec_tf.config import ConfigError
from mtrec_tf.io_utils import join

if TYPE_CHECKING:
    from mtrec_tf.backend import tf

# Vertex AI worker pools, in order, as TF_CONFIG task types.
WORKER_POOLS = ("chief", "worker", "ps", "evaluator")
TRAINING_TASK_TYPES = ("chief", "worker")
_TF_CONFIG_SHAPE = ('{"cluster": {"chief": ["host:port"], "worker": ["host:port", ...]}, '
                    '"task": {"type": "worker", "index": 0}}')
_CLUSTER_SPEC_SHAPE = ('{"cluster": {"workerpool0": ["host:port"], "workerpool1": ["host:port", ...]}, '
                       '"task": {"type": "workerpool1", "index": 0}}')


class ClusterConfigError(ConfigError):
    """`TF_CONFIG` or `CLUSTER_SPEC` does not describe a training cluster."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The training cluster and this process's place in it.

    Attributes:
        spec: task type (`chief`, `worker`, ...) to `host:port` addresses; empty on one machine.
        task_type: this process's task type (`None` on one machine).
        task_index: this process's index among the tasks of its type.
        source: the environment variable the cluster was read from ("" when none was set).
    """

    spec: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    task_type: str | None = None
    task_index: int = 0
    source: str = ""

    @property
    def num_workers(self) -> int:
        """Training processes: the chief and the workers."""
        return sum(len(self.spec.get(kind, ())) for kind in TRAINING_TASK_TYPES)

    @property
    def is_chief(self) -> bool:
        """The chief, or worker 0 of a cluster without one, or a process on its own."""
        if self.task_type is None:
            return True
        if self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.spec.get("chief")

    def tf_config(self) -> str:
        """The cluster as `TF_CONFIG` JSON."""
        return json.dumps({"cluster": {k: list(v) for k, v in self.spec.items()},
                           "task": {"type": self.task_type, "index": self.task_index}})


def resolve_cluster(environ: Mapping[str, str] | None = None) -> Cluster:
    """The cluster of `TF_CONFIG`, else of `CLUSTER_SPEC`, else a single process.

    Raises:
        ClusterConfigError: naming the variable, when it is not JSON of the expected shape.
    """
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG", "").strip():
        return _parse("TF_CONFIG", environ["TF_CONFIG"], _TF_CONFIG_SHAPE, pools=False)
    if environ.get("CLUSTER_SPEC", "").strip():
        return _parse("CLUSTER_SPEC", environ["CLUSTER_SPEC"], _CLUSTER_SPEC_SHAPE, pools=True)
    return Cluster()


def _parse(variable: str, text: str, shape: str, pools: bool) -> Cluster:
    def fail(problem: str) -> ClusterConfigError:
        return ClusterConfigError(f"{variable} {problem}; expected JSON like {shape}")

    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise fail(f"is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise fail(f"must be a JSON object, got {type(value).__name__}")
    raw_cluster = value.get("cluster", {})
    if not isinstance(raw_cluster, dict):
        raise fail(f"has a 'cluster' that is not an object: {raw_cluster!r}")
    spec: dict[str, tuple[str, ...]] = {}
    for kind, addresses in raw_cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise fail(f"lists {kind!r} as {addresses!r}, not a list of 'host:port' strings")
        spec[_task_type(kind, pools, fail)] = tuple(addresses)
    if spec.get("ps"):
        raise fail("has parameter servers ('ps' / workerpool2), which MultiWorkerMirroredStrategy does not use: "
                   "give the job a chief pool and a worker pool only")
    if len(spec.get("chief", ())) > 1:
        raise fail(f"has {len(spec['chief'])} chiefs; a cluster has at most one")

    task = value.get("task")
    if not spec:
        if task:
            raise fail("has a 'task' but no 'cluster'")
        return Cluster(source=variable)
    if not isinstance(task, dict) or "type" not in task:
        raise fail("has a 'cluster' but no 'task' with a 'type'")
    task_type = _task_type(task["type"], pools, fail)
    index = task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise fail(f"has task index {index!r}; expected an integer from 0")
    if task_type not in TRAINING_TASK_TYPES:
        raise fail(f"gives this process task type {task['type']!r}, which does not train here; "
                   f"training tasks are {', '.join(TRAINING_TASK_TYPES)}")
    if index >= len(spec.get(task_type, ())):
        raise fail(f"gives this process {task_type} {index}, but the cluster lists "
                   f"{len(spec.get(task_type, ()))} {task_type} task(s)")
    return Cluster(spec, task_type, index, variable)


def _task_type(name: object, pools: bool, fail: Callable[[str], ClusterConfigError]) -> str:
    if pools:
        if isinstance(name, str) and name.startswith("workerpool") and name[10:] in ("0", "1", "2", "3"):
            return WORKER_POOLS[int(name[10:])]
        raise fail(f"names worker pool {name!r}; expected workerpool0 to workerpool3")
    if name not in WORKER_POOLS:
        raise fail(f"names task type {name!r}; expected one of {', '.join(WORKER_POOLS)}")
    return str(name)


def make_strategy(cluster: Cluster | None = None) -> tf.distribute.Strategy:
    """The strategy for this process: multi-worker, several local GPUs, or the default.

    Call it before any other TensorFlow work in the process: `MultiWorkerMirroredStrategy`
    configures collective ops, which fails once the runtime has started.

    Returns:
        `MultiWorkerMirroredStrategy` when the cluster has several workers (`TF_CONFIG` is set
        from `CLUSTER_SPEC` if needed), `MirroredStrategy` on one machine with several GPUs,
        otherwise the default strategy.
    """
    from mtrec_tf.backend import tf

    cluster = resolve_cluster() if cluster is None else cluster
    if cluster.num_workers > 1:
        if cluster.source != "TF_CONFIG":
            os.environ["TF_CONFIG"] = cluster.tf_config()
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise RuntimeError(
                f"could not start MultiWorkerMirroredStrategy ({error}); it must be made before any "
                "TensorFlow op runs in the process") from error
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the shared outputs (exports, metrics, plots, the run files).

    Args:
        strategy: a `tf.distribute.Strategy` (default: the current one). Strategies without a
            multi-worker cluster always make their process the chief.
    """
    task_type, task_id, spec = _task_of(strategy)
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not spec.get("chief"))


def worker_temp_dir(path: str | os.PathLike, strategy: tf.distribute.Strategy | None = None) -> str:
    """Where a non-chief worker writes what the chief writes to `path`: a folder of its own inside
    `path`, to be deleted when done (as Keras does for its callbacks)."""
    task_type, task_id, _ = _task_of(strategy)
    return join(path, f"workertemp_{task_type}_{task_id}")


def _task_of(strategy: tf.distribute.Strategy | None) -> tuple[str | None, int, dict]:
    from mtrec_tf.backend import tf

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0, {}
    spec = resolver.cluster_spec().as_dict()
    if sum(len(spec.get(kind, ())) for kind in TRAINING_TASK_TYPES) < 2:
        return None, 0, {}
    return resolver.task_type, int(resolver.task_id or 0), spec


def worker_files(files: Sequence[str], strategy: tf.distribute.Strategy | None = None) -> tuple[list[str], bool]:
    """The shard files this worker reads: every `n`-th of `files` for the `n` training tasks
    of a multi-worker cluster (chief first, then the workers in order), and True; all of them
    and False on one worker, or when there are fewer files than workers (each worker then
    keeps its share of every batch)."""
    task_type, task_id, spec = _task_of(strategy)
    tasks = [(kind, index) for kind in TRAINING_TASK_TYPES for index in range(len(spec.get(kind, ())))]
    if task_type is None or len(files) < len(tasks):
        return list(files), False
    position = tasks.index((task_type, task_id))
    return list(files)[position::len(tasks)], True
