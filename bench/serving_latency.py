"""Serving latency: in-process signature calls against REST and gRPC through the development server.

    python bench/serving_latency.py RUN [--calls 200]

Loads the newest export of RUN (`mtrec train` writes it), reports its size and load time,
then times `recommend` (k=10) and `score` (100 candidates) at batch 1 and 64, called in turn
in-process, and over REST and gRPC through the development server (`mtrec serve`, in its own
process), interleaved so that machine noise hits all three alike.
Prints p50 and p99 in ms, requests/s of one sequential caller, and each transport's p50 over
the in-process p50.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mtrec_tf.backend import tf
from serving.client import RestClient
from serving.demo import wait_until_available
from serving.grpc_client import GrpcClient
from serving.requests_builder import UserRequest, user_inputs


def newest_version(run: Path) -> Path:
    base = run / "export" / "mtrec"
    versions = sorted((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    if not versions:
        raise SystemExit(f"{base} holds no export: run `mtrec export {run}` first")
    return versions[-1]


def users(item_ids: list[str], n: int, rng: np.random.Generator) -> list[UserRequest]:
    return [UserRequest(f"u{i}", [(str(item), "click", 60.0 * j) for j, item in
                                  enumerate(rng.choice(item_ids, 20))], "nonstick pan 不粘锅") for i in range(n)]


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per case and transport")
    args = parser.parse_args()

    path = newest_version(args.run)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    start = time.perf_counter()
    loaded = tf.saved_model.load(str(path))
    load_seconds = time.perf_counter() - start
    graph_size = (path / "saved_model.pb").stat().st_size
    print(f"export {path}: {size / 1e6:.1f} MB (saved_model.pb {graph_size / 1e6:.1f} MB), "
          f"load {load_seconds:.2f} s")
    item_ids = (args.run / "vocab" / "items.txt").read_text(encoding="utf-8").split()

    rest_port, grpc_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "trainer.cli", "serve", "--model-base-path", str(path.parent),
                               "--rest-port", str(rest_port), "--grpc-port", str(grpc_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with RestClient(f"http://127.0.0.1:{rest_port}") as rest, GrpcClient(f"127.0.0.1:{grpc_port}") as grpc:
            wait_until_available(rest, 120)
            run_cases(loaded, item_ids, {"rest": rest, "grpc": grpc}, args.calls)
    finally:
        server.terminate()
        server.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cases(loaded, item_ids: list[str], clients: dict, calls: int) -> None:
    rng = np.random.default_rng(0)
    print(f"\n{'case':28}{'transport':>10}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}{'p50 / in-process':>18}")
    for batch in (1, 64):
        requests = users(item_ids, batch, rng)
        candidates = [list(rng.choice(item_ids, 100)) for _ in range(batch)]
        for name, (call, signature, inputs) in batch_cases(batch, requests, candidates).items():
            function, tensors = loaded.signatures[signature], inputs()
            timings: dict[str, list[float]] = {"in-process": [], "rest": [], "grpc": []}
            for _ in range(5):  # warm up every path
                function(**tensors)
                for client in clients.values():
                    call(client)
            for _ in range(calls):
                for transport in timings:
                    start = time.perf_counter()
                    function(**tensors) if transport == "in-process" else call(clients[transport])
                    timings[transport].append(time.perf_counter() - start)
            base = statistics.median(timings["in-process"])
            for transport, seconds in timings.items():
                p50, p99 = percentiles(seconds)
                print(f"{name:28}{transport:>10}{p50:9.2f}{p99:9.2f}{1 / statistics.mean(seconds):8.0f}"
                      f"{statistics.median(seconds) / base:18.2f}")


def batch_cases(batch: int, requests: list[UserRequest], candidates: list[list[str]]) -> dict[str, tuple]:
    """Per case: how a client calls it, the signature it runs, and that signature's inputs."""
    return {
        f"recommend k=10, batch {batch}": (
            lambda c: c.recommend_many(requests, k=10), "retrieve",
            lambda: user_tensors(requests)),
        f"score 100, batch {batch}": (
            lambda c: c.score_many(requests, candidates), "serving_default",
            lambda: dict(user_tensors(requests), candidates=tf.constant(candidates))),
    }


def user_tensors(requests: list[UserRequest]) -> dict[str, tf.Tensor]:
    """The user inputs of `requests` as the clients build them, as tensors for an in-process call."""
    return {name: tf.constant(value.values, dtype=getattr(tf, value.dtype))
            for name, value in user_inputs(requests).items()}


if __name__ == "__main__":
    main()
