"""Building examples as the log grows: wall time and peak memory of each runner, per scale.

    python bench/data_scale.py [--scales 1,10,50,100] [--runners local,memory,DirectRunner]
        [--memory-up-to 20] [--beam-up-to 10] [--train-steps 300 [--evaluate]] [--work DIR]

For each scale the sample shop is written once as tables (events in Parquet files of a
million rows, the catalogue with its images in row groups of 5,000 items, the labelled
queries), then each runner builds
its examples in a fresh process under `/usr/bin/time -v`: `mtrec data examples DIR --runner R`
(Beam's DirectRunner in two worker processes; the peak is then that of the largest single
process, the launcher or a worker, not their sum).
The script prints, per scale and runner, the events, the wall time, the time per million
events and the peak resident memory, then the growth of each from one scale to the next.
The in-memory runner holds the whole log; it runs up to `--memory-up-to` only.

With `--train-steps N`, the local runner's examples of each scale then train the default
model for N steps (`mtrec train --examples`, batch 512, no evaluation or export), and the
script prints the wall time, the training rate and the peak memory of that process too;
with `--evaluate` as well, `mtrec evaluate RUN` of that run (the test shards, the baselines,
the full-catalogue ranking).
Both commands then read the default configuration without the image feature and the image
task (`without_images`): the catalogue's image array grows with the catalogue, and this
measures what grows with the examples.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from peak_memory import timed

EVENTS_PER_FILE = 1_000_000
# About 50 MB of images a row group, as writers that size row groups by bytes make them: a
# Parquet reader holds a row group at a time.
ITEMS_PER_ROW_GROUP = 5_000
# Beam's DirectRunner in worker processes, one per core of this machine.
BEAM_OPTIONS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def write_tables(scale: int, out: Path) -> None:
    """The sample at `scale` as table files in `out` (run in its own process)."""
    import mtrec_tf  # noqa: F401
    from mtrec_tf.data.sample import generate_sample

    world = generate_sample(scale=scale, seed=0)
    (out / "events").mkdir(parents=True)
    events = world.events
    for index, start in enumerate(range(0, len(events), EVENTS_PER_FILE)):
        events.iloc[start:start + EVENTS_PER_FILE].to_parquet(out / "events" / f"part-{index:05d}.parquet")
    world.items.to_parquet(out / "items.parquet", row_group_size=ITEMS_PER_ROW_GROUP)
    world.queries.to_parquet(out / "queries.parquet")


def without_images() -> str:
    """The default configuration without the image feature and the image task, as YAML."""
    import dataclasses

    import mtrec_tf  # noqa: F401
    from mtrec_tf.config import Config, dump_config

    config = Config()
    return dump_config(dataclasses.replace(
        config, tasks=tuple(t for t in config.tasks if t.name != "image_category"),
        features=tuple(f for f in config.features if f.kind != "image")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,10,50,100")
    parser.add_argument("--runners", default="local,memory")
    parser.add_argument("--memory-up-to", type=int, default=20, help="largest scale the memory runner builds")
    parser.add_argument("--beam-up-to", type=int, default=10, help="largest scale the DirectRunner builds")
    parser.add_argument("--train-steps", type=int, default=0, help="train from each scale's examples this long")
    parser.add_argument("--evaluate", action="store_true", help="then evaluate each trained run (`mtrec evaluate`)")
    parser.add_argument("--work", help="folder for the tables and examples (default: a temporary one)")
    parser.add_argument("--write-tables", nargs=2, metavar=("SCALE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_tables:
        write_tables(int(args.write_tables[0]), Path(args.write_tables[1]))
        return

    work = Path(args.work or tempfile.mkdtemp(prefix="data-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = []
    if args.train_steps:
        (work / "config.yaml").write_text(without_images(), encoding="utf-8")
        settings = ["--config", str(work / "config.yaml")]
    rows, trained, evaluated = [], [], []
    for scale in (int(s) for s in args.scales.split(",")):
        tables = work / f"tables-{scale}"
        shutil.rmtree(tables, ignore_errors=True)
        seconds, peak, _ = timed([sys.executable, __file__, "--write-tables", str(scale), str(tables)])
        print(f"scale {scale}: sample written in {seconds:.0f} s (peak {peak:.2f} GB)", flush=True)
        for runner in args.runners.split(","):
            if (runner == "memory" and scale > args.memory_up_to) or (runner == "DirectRunner"
                                                                      and scale > args.beam_up_to):
                continue
            out = work / f"examples-{scale}-{runner}"
            shutil.rmtree(out, ignore_errors=True)
            options = BEAM_OPTIONS if runner == "DirectRunner" else []
            seconds, peak, _ = timed([sys.executable, "-m", "trainer.cli", "data", "examples", str(tables),
                                      "--out", str(out), "--runner", runner, *options, *settings[:2]])
            summary = json.loads((out / "examples.json").read_text(encoding="utf-8"))
            events = sum(summary["split"]["events"].values())
            examples = sum(sum(kinds.values()) for kinds in summary["examples"].values())
            rows.append((scale, runner, events, examples, seconds, peak))
            print(f"scale {scale} {runner}: {events:,} events -> {examples:,} examples in {seconds:.0f} s, "
                  f"peak {peak:.2f} GB", flush=True)
            if runner == "local" and args.train_steps:
                run = work / f"run-{scale}"
                shutil.rmtree(run, ignore_errors=True)
                seconds, peak, _ = timed([sys.executable, "-m", "trainer.cli", "train", "--examples", str(out),
                                          *settings, "--set", f"training.steps_per_epoch={args.train_steps}",
                                          "--set", "training.epochs=1", "--set", "training.batch_size=512",
                                          "--no-evaluate", "--no-export", "--output-dir", str(run)])
                rate = json.loads((run / "history.json").read_text(encoding="utf-8"))["examples_per_second"]
                trained.append((scale, summary["examples"]["train"], seconds, rate, peak))
                print(f"scale {scale} train --examples: {args.train_steps} steps in {seconds:.0f} s "
                      f"({rate:,.0f} examples/s), peak {peak:.2f} GB", flush=True)
                if args.evaluate:
                    seconds, peak, _ = timed([sys.executable, "-m", "trainer.cli", "evaluate", str(run)])
                    evaluated.append((scale, sum(summary["examples"]["test"].values()), seconds, peak))
                    print(f"scale {scale} evaluate: {evaluated[-1][1]:,} test examples in {seconds:.0f} s, "
                          f"peak {peak:.2f} GB", flush=True)
                shutil.rmtree(run, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tables, ignore_errors=True)

    print()
    print(f"{'scale':>6} {'runner':>7} {'events':>12} {'examples':>12} {'wall s':>8} {'s per M events':>15} "
          f"{'peak GB':>8}")
    for scale, runner, events, examples, seconds, peak in rows:
        print(f"{scale:>6} {runner:>7} {events:>12,} {examples:>12,} {seconds:>8.1f} {seconds / events * 1e6:>15.2f} "
              f"{peak:>8.2f}")
    if trained:
        print()
        print(f"{'scale':>6} {'train examples':>15} {'wall s':>8} {'examples/s':>11} {'peak GB':>8}")
        for scale, counts, seconds, rate, peak in trained:
            print(f"{scale:>6} {sum(counts.values()):>15,} {seconds:>8.1f} {rate:>11,.0f} {peak:>8.2f}")
    if evaluated:
        print()
        print(f"{'scale':>6} {'test examples':>14} {'evaluate s':>11} {'peak GB':>8}")
        for scale, count, seconds, peak in evaluated:
            print(f"{scale:>6} {count:>14,} {seconds:>11.1f} {peak:>8.2f}")
    print()
    for runner in args.runners.split(","):
        mine = [row for row in rows if row[1] == runner]
        for (s0, _, e0, _, t0, p0), (s1, _, e1, _, t1, p1) in zip(mine, mine[1:]):
            print(f"{runner} scale {s0} -> {s1}: events x{e1 / e0:.1f}, peak memory x{p1 / p0:.2f}, "
                  f"time per event x{(t1 / e1) / (t0 / e0):.2f}")


if __name__ == "__main__":
    main()
