"""The cluster from TF_CONFIG or Vertex AI's CLUSTER_SPEC, and who the chief is."""

from __future__ import annotations

import json

import pytest

from mtrec_tf.training.distribution import Cluster, ClusterConfigError, make_strategy, resolve_cluster

TWO = {"chief": ["127.0.0.1:2000"], "worker": ["127.0.0.1:2001", "127.0.0.1:2002"]}


def _tf_config(task_type: str, index: int, cluster=TWO) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_tf_config_gives_the_cluster_and_the_chief():
    chief = resolve_cluster(_tf_config("chief", 0))
    assert (chief.task_type, chief.task_index, chief.num_workers, chief.source) == ("chief", 0, 3, "TF_CONFIG")
    assert chief.is_chief
    assert not resolve_cluster(_tf_config("worker", 0)).is_chief
    # Without a chief, worker 0 is the chief.
    workers = {"worker": TWO["worker"]}
    assert resolve_cluster(_tf_config("worker", 0, workers)).is_chief
    assert not resolve_cluster(_tf_config("worker", 1, workers)).is_chief


def test_cluster_spec_worker_pools_map_to_tf_config_task_types():
    spec = {"cluster": {"workerpool0": ["cmle-0:2222"], "workerpool1": ["cmle-1:2222", "cmle-2:2222"]},
            "environment": "cloud", "task": {"type": "workerpool1", "index": 1}, "job": "{}"}
    cluster = resolve_cluster({"CLUSTER_SPEC": json.dumps(spec)})
    assert dict(cluster.spec) == {"chief": ("cmle-0:2222",), "worker": ("cmle-1:2222", "cmle-2:2222")}
    assert (cluster.task_type, cluster.task_index, cluster.source) == ("worker", 1, "CLUSTER_SPEC")
    assert json.loads(cluster.tf_config()) == {
        "cluster": {"chief": ["cmle-0:2222"], "worker": ["cmle-1:2222", "cmle-2:2222"]},
        "task": {"type": "worker", "index": 1}}
    # TF_CONFIG wins when both are set, as in Vertex AI's TensorFlow containers.
    both = {**_tf_config("chief", 0), "CLUSTER_SPEC": json.dumps(spec)}
    assert resolve_cluster(both).task_type == "chief"


def test_no_cluster_is_one_chief_process_on_the_default_strategy():
    assert resolve_cluster({}) == Cluster()
    assert resolve_cluster({"TF_CONFIG": " "}).is_chief
    single = resolve_cluster(_tf_config("chief", 0, {"chief": ["127.0.0.1:2000"]}))
    assert single.num_workers == 1 and single.is_chief
    from mtrec_tf.backend import tf

    assert make_strategy(single) is tf.distribute.get_strategy()


@pytest.mark.parametrize("variable, value, message", [
    ("TF_CONFIG", "{cluster: 1}", "TF_CONFIG is not valid JSON"),
    ("TF_CONFIG", "[]", "TF_CONFIG must be a JSON object"),
    ("TF_CONFIG", json.dumps({"cluster": TWO}), "TF_CONFIG has a 'cluster' but no 'task' with a 'type'"),
    ("TF_CONFIG", json.dumps({"cluster": TWO, "task": {"index": 0}}), "no 'task' with a 'type'"),
    ("TF_CONFIG", json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 2}}),
     "gives this process worker 2, but the cluster lists 2 worker"),
    ("TF_CONFIG", json.dumps({"cluster": {"chief": "h:1"}, "task": {"type": "chief"}}), "not a list of 'host:port'"),
    ("TF_CONFIG", json.dumps({"cluster": {**TWO, "ps": ["h:3"]}, "task": {"type": "chief"}}), "parameter servers"),
    ("TF_CONFIG", json.dumps({"cluster": {"boss": ["h:1"]}, "task": {"type": "boss"}}), "task type 'boss'"),
    ("TF_CONFIG", json.dumps({"cluster": {**TWO, "evaluator": ["h:4"]}, "task": {"type": "evaluator"}}),
     "does not train here"),
    ("CLUSTER_SPEC", json.dumps({"cluster": {"workerpool0": ["h:1"], "chief": ["h:2"]}, "task": {"type": "chief"}}),
     "worker pool 'chief'; expected workerpool0 to workerpool3"),
    ("CLUSTER_SPEC", json.dumps({"cluster": {"workerpool0": ["h:1"], "workerpool1": ["h:2"]}}),
     "CLUSTER_SPEC has a 'cluster' but no 'task'"),
])
def test_bad_cluster_variables_name_the_variable_and_the_expected_shape(variable, value, message):
    with pytest.raises(ClusterConfigError, match="expected") as error:
        resolve_cluster({variable: value})
    assert message in str(error.value)
    assert str(error.value).startswith(variable)
