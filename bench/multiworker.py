"""Wall time of two MultiWorkerMirroredStrategy workers on 127.0.0.1 against one process, for the
same steps of the same global batch, and what the chief writes.

    python bench/multiworker.py [--preset tiny] [--tasks ctr,next_item] [--batch-size 256]
                                [--steps 20] [--epochs 2]

Each run trains `trainer.task`'s way (the strategy made first, `fit.train` with it) in fresh
processes. Printed per run: process wall time, start-up until `fit` (import, cluster, data,
model), the first epoch (tracing included), and the later epochs per step. Two workers on one
small machine share its cores, so expect no speed-up: the point is that they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARK = "BENCH "


def _overrides(args: argparse.Namespace) -> list[str]:
    return [f"training.batch_size={args.batch_size}", f"training.steps_per_epoch={args.steps}",
            f"training.epochs={args.epochs}", "data.sample_seed=3"]


def worker(args: argparse.Namespace) -> None:
    """One training process: prints its timings as a JSON line."""
    start = time.perf_counter()
    from mtrec_tf.training.distribution import make_strategy, resolve_cluster

    strategy = make_strategy(resolve_cluster())
    from mtrec_tf.backend import keras
    from mtrec_tf.config import load_config, select_tasks
    from mtrec_tf.training.fit import train

    marks: dict[str, float] = {}

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            marks["fit"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            marks[f"epoch{epoch}"] = time.perf_counter()

    config = load_config(None, _overrides(args), preset=args.preset)
    if args.tasks:
        config = select_tasks(config, args.tasks.split(","))
    result = train(config, args.output_dir, verbose=0, strategy=strategy, extra_callbacks=[Clock()])
    later = (marks[f"epoch{args.epochs - 1}"] - marks["epoch0"]) / max(1, (args.epochs - 1) * args.steps)
    print(MARK + json.dumps({
        "startup": marks["fit"] - start, "first_epoch": marks["epoch0"] - marks["fit"], "later_step": later,
        "replicas": strategy.num_replicas_in_sync, "loss": result.history["loss"][-1]}), flush=True)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run(args: argparse.Namespace, run_dir: Path, workers: int) -> tuple[float, list[dict]]:
    command = [sys.executable, __file__, "--role", "worker", "--output-dir", str(run_dir), "--preset", args.preset,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--epochs", str(args.epochs)]
    if args.tasks:
        command += ["--tasks", args.tasks]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    env.pop("CLUSTER_SPEC", None)
    envs = [env]
    if workers > 1:
        addresses = [f"127.0.0.1:{port}" for port in _free_ports(workers)]
        cluster = {"chief": addresses[:1], "worker": addresses[1:]}
        tasks = [("chief", 0)] + [("worker", i) for i in range(workers - 1)]
        envs = [dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": t, "index": i}}))
                for t, i in tasks]
    start = time.perf_counter()
    processes = [subprocess.Popen(command, cwd=REPO, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for e in envs]
    outputs = [p.communicate()[0] for p in processes]
    wall = time.perf_counter() - start
    for process, output in zip(processes, outputs):
        if process.returncode:
            sys.exit(f"a worker failed:\n{output[-3000:]}")
    timings = [json.loads(line[len(MARK):]) for output in outputs for line in output.splitlines()
               if line.startswith(MARK)]
    return wall, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--tasks", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--batch-size", type=int, default=256, help="the global batch")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--role", default="bench", choices=("bench", "worker"), help=argparse.SUPPRESS)
    parser.add_argument("--output-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        worker(args)
        return

    print(f"preset {args.preset}, tasks {args.tasks or 'all'}, global batch {args.batch_size}, "
          f"{args.epochs} epochs x {args.steps} steps, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for workers in (1, 2):
            run_dir = Path(tmp) / f"run-{workers}"
            results[workers] = _run(args, run_dir, workers)
            wall, timings = results[workers]
            print(f"\n{workers} worker(s): {wall:.1f} s wall", flush=True)
            for index, timing in enumerate(timings):
                print(f"  process {index}: start-up {timing['startup']:.1f} s, "
                      f"first epoch {timing['first_epoch']:.1f} s, "
                      f"later {timing['later_step'] * 1000:.0f} ms/step "
                      f"({args.batch_size / timing['later_step']:,.0f} examples/s), "
                      f"{timing['replicas']} replica(s), final loss {timing['loss']:.4f}")
            if workers == 2:
                files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
                print(f"  the chief wrote {len(files)} files under the run:")
                for folder in sorted({f.split("/")[0] for f in files}):
                    inside = [f for f in files if f.split("/")[0] == folder]
                    print(f"    {folder}{'/ (' + str(len(inside)) + ' files)' if inside[0] != folder else ''}")
                print(f"  worker leftovers: {[f for f in files if 'workertemp' in f] or 'none'}")
        (one, _), (two, _) = results[1], results[2]
        print(f"\ntwo workers / one process: {two / one:.2f}x the wall time")


if __name__ == "__main__":
    main()
