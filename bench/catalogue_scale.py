"""A catalogue of a million items: building examples, training from shards and exporting.

    python bench/catalogue_scale.py [--items 120000,1000000] [--train-steps 50] [--work DIR]

For each catalogue size the sample shop's log (scale 1: about 87,000 events on its 1,200
items) is written as tables with its catalogue grown to that many items, each added item with
a title, category, brand, price and a small synthetic image (an 8 x 8 PNG of one colour, which
the preprocessing scales to 64 x 64 like any other). Then, each in a fresh process under
`/usr/bin/time -v`:

- `mtrec data examples TABLES --runner local` (the catalogue held without its images);
- `mtrec train --examples` with the default configuration (image feature and image task
  included) for `--train-steps` steps of 512, without evaluation or export: the catalogue's
  images are decoded into a file read row by row (`vocab/catalogue_images.npy`);
- `mtrec export RUN`: the item tower's vectors of every item, computed in batches, in the
  SavedModel.

The script prints the wall time and peak resident memory of each, the export's size, and the
growth from one size to the next.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

from peak_memory import timed

ITEMS_PER_ROW_GROUP = 5_000


def write_tables(items: int, out: Path) -> None:
    """The sample's log with its catalogue grown to `items` items, as Parquet tables in `out`."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    import mtrec_tf  # noqa: F401
    from mtrec_tf.data.sample import generate_sample

    world = generate_sample(scale=1, seed=0)
    out.mkdir(parents=True)
    world.events.to_parquet(out / "events.parquet")
    world.queries.to_parquet(out / "queries.parquet")
    rng = np.random.default_rng(0)
    added = items - len(world.items)
    colours = rng.integers(0, 256, size=(added, 3))
    images = []
    for colour in colours:
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), tuple(int(c) for c in colour)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    categories = world.items["category"].unique()
    brands = world.items["brand"].unique()
    extra = pd.DataFrame({
        "item_id": [f"x{index:07d}" for index in range(added)],
        "title": [f"item {index} {categories[index % len(categories)]}" for index in range(added)],
        "category": categories[np.arange(added) % len(categories)],
        "brand": brands[rng.integers(0, len(brands), added)],
        "price": np.round(rng.uniform(1, 500, added), 2),
        "image": images,
    })
    pd.concat([world.items, extra], ignore_index=True).to_parquet(out / "items.parquet",
                                                                   row_group_size=ITEMS_PER_ROW_GROUP)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="120000,1000000")
    parser.add_argument("--train-steps", type=int, default=50)
    parser.add_argument("--work", help="folder for the tables, examples and runs (default: a temporary one)")
    parser.add_argument("--write-tables", nargs=2, metavar=("ITEMS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_tables:
        write_tables(int(args.write_tables[0]), Path(args.write_tables[1]))
        return

    work = Path(args.work or tempfile.mkdtemp(prefix="catalogue-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "trainer.cli"]
    rows = []
    for items in (int(n) for n in args.items.split(",")):
        tables, examples, run = work / f"tables-{items}", work / f"examples-{items}", work / f"run-{items}"
        for folder in (tables, examples, run):
            shutil.rmtree(folder, ignore_errors=True)
        seconds, peak, _ = timed([sys.executable, __file__, "--write-tables", str(items), str(tables)])
        print(f"{items:,} items: tables written in {seconds:.0f} s (peak {peak:.2f} GB)", flush=True)
        build = timed([*cli, "data", "examples", str(tables), "--out", str(examples), "--runner", "local"])[:2]
        print(f"{items:,} items: examples in {build[0]:.0f} s, peak {build[1]:.2f} GB", flush=True)
        train = timed([*cli, "train", "--examples", str(examples),
                       "--set", f"training.steps_per_epoch={args.train_steps}", "--set", "training.epochs=1",
                       "--set", "training.batch_size=512", "--no-evaluate", "--no-export",
                       "--output-dir", str(run)])[:2]
        images = (run / "vocab" / "catalogue_images.npy").stat().st_size
        print(f"{items:,} items: {args.train_steps} training steps in {train[0]:.0f} s, peak {train[1]:.2f} GB "
              f"(images file {images / 1e9:.2f} GB)", flush=True)
        export = timed([*cli, "export", str(run)])[:2]
        size = folder_bytes(next(run.rglob("saved_model.pb")).parent)
        print(f"{items:,} items: exported in {export[0]:.0f} s, peak {export[1]:.2f} GB, "
              f"{size / 1e6:.0f} MB", flush=True)
        summary = json.loads((examples / "examples.json").read_text(encoding="utf-8"))
        rows.append((items, sum(summary["split"]["events"].values()), build, train, export, size, images))
        for folder in (tables, examples, run):
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"{'items':>10} {'events':>8} {'examples s':>11} {'GB':>5} {'train s':>8} {'GB':>5} {'export s':>9} "
          f"{'GB':>5} {'export MB':>10} {'images GB':>10}")
    for items, events, build, train, export, size, images in rows:
        print(f"{items:>10,} {events:>8,} {build[0]:>11.1f} {build[1]:>5.2f} {train[0]:>8.1f} {train[1]:>5.2f} "
              f"{export[0]:>9.1f} {export[1]:>5.2f} {size / 1e6:>10.0f} {images / 1e9:>10.2f}")
    for (n0, _, b0, t0, e0, _, _), (n1, _, b1, t1, e1, _, _) in zip(rows, rows[1:]):
        print(f"{n0:,} -> {n1:,} items (x{n1 / n0:.1f}): peak memory x{b1[1] / b0[1]:.2f} building examples, "
              f"x{t1[1] / t0[1]:.2f} training, x{e1[1] / e0[1]:.2f} exporting")


if __name__ == "__main__":
    main()
