"""DeepCTR's ESMM, MMoE and PLE against mtrec-tf on the sample's impressions: ctr and CTCVR AUC.

    pip install deepctr tf_keras        # bench only: not a dependency of mtrec-tf
    python bench/deepctr_ranking.py [--seeds 42,1,2] [--scale 1] [--max-epochs 20] [--set KEY=VALUE ...]

For each seed the default configuration prepares the sample shop and its time split (this
process, with mtrec-tf), and the five-task model trains on it twice, as
`bench/position_bias.py` does: as it is, and with `ctr`'s position tower. A child process
(Keras 2 through `tf_keras`, as DeepCTR needs) trains ESMM, MMoE and PLE on the same training
impressions, labelled click (ctr) and click-and-purchase (CTCVR), with the features a CTR
model of these logs has as plain ids: user, item, the item's category, the query (one id),
and the ids of the user's history (mean-pooled); once without and once with the slot
(`position`, 20 buckets as `model.position_buckets`) as one more feature. Epochs are chosen
on the validation impressions' ctr AUC (patience 2, the best weights restored); the test part
is read once.

Prints, on the test impressions, ctr AUC, ctr AUC within each slot (`position_auc`, which a
score that only learnt the slot cannot raise) and CTCVR AUC: the median over seeds and the
range. A model that reads the slot is scored twice: as observed (the true slot: how the
issue's peer run judged DeepCTR, and mtrec-tf's `observed_auc`) and as served for ranking
(every item at slot 0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from keras2_child import add_child_arguments, run_child

if TYPE_CHECKING:
    from mtrec_tf.data.prepare import PreparedData

POSITION_BUCKETS = 20
IDS = ("user_id", "item_id", "category", "query")
MODELS = ("ESMM", "MMOE", "PLE")
# (name, reads the slot)
SETTINGS = (("plain ids", False), ("plain ids + position", True))


def impression_rows(prepared: PreparedData) -> dict[str, pd.DataFrame]:
    """The impressions of each part with the features as integer codes fitted on the training
    part (0: unknown or empty; history items share the candidates' codes), and the labels
    click and click-and-purchase."""
    categories = prepared.data.items.set_index("item_id")["category"]
    parts = {}
    for part in ("train", "validation", "test"):
        table = prepared.examples.parts[part].to_pandas()
        rows = table[table["mask_ctr"] > 0].reset_index(drop=True)
        rows["category"] = rows["item_id"].map(categories).fillna("")
        parts[part] = rows
    train = parts["train"]
    seen = {column: set(train[column]) for column in IDS}
    seen["item_id"] |= {item for history in train["history_item_ids"] for item in history}
    for column in IDS:
        codes = {value: i + 1 for i, value in enumerate(sorted(seen[column] - {""}))}
        for frame in parts.values():
            if column == "item_id":
                frame["history"] = [[codes.get(i, 0) for i in history] for history in frame["history_item_ids"]]
            frame[column] = frame[column].map(codes).fillna(0).astype(np.int64)
    for frame in parts.values():
        frame["slot"] = np.clip(frame["position"], 0, POSITION_BUCKETS - 1).astype(np.int64)
    return {name: frame[[*IDS, "history", "slot", "position", "label_ctr", "label_cvr"]]
            for name, frame in parts.items()}


def train_deepctr(folder: Path, seed: int, max_epochs: int) -> None:
    """In a Keras 2 child process: each model and setting on folder/train.parquet, epochs chosen
    on folder/validation.parquet; its test scores written to folder/<model>-<setting>.npz."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    from deepctr.feature_column import SparseFeat, VarLenSparseFeat
    from deepctr.models.multitask import ESMM, MMOE, PLE

    from mtrec_tf import metrics

    parts = {part: pd.read_parquet(folder / f"{part}.parquet") for part in ("train", "validation", "test")}
    histories = [h for frame in parts.values() for h in frame["history"]]
    width = max(1, max(len(h) for h in histories))

    def inputs(frame: pd.DataFrame, slot: int | None = None) -> dict[str, np.ndarray]:
        values = {column: frame[column].to_numpy() for column in IDS}
        values["history"] = tf.keras.utils.pad_sequences(list(frame["history"]), maxlen=width, padding="post")
        values["slot"] = frame["slot"].to_numpy() if slot is None else np.full(len(frame), slot, np.int64)
        return values

    sizes = {column: int(max(frame[column].max() for frame in parts.values())) + 1 for column in IDS}
    # Histories share the item table, and may hold items no impression showed.
    sizes["item_id"] = max(sizes["item_id"], 1 + max(max(h, default=0) for h in histories))
    train, validation = inputs(parts["train"]), inputs(parts["validation"])
    builders = {"ESMM": ESMM, "MMOE": MMOE, "PLE": PLE}
    labels = [parts["train"]["label_ctr"].to_numpy(), parts["train"]["label_cvr"].to_numpy()]
    for setting, reads_slot in SETTINGS:
        columns = [SparseFeat(column, sizes[column], embedding_dim=16) for column in IDS]
        columns.append(VarLenSparseFeat(SparseFeat("history", sizes["item_id"], embedding_dim=16,
                                                   embedding_name="item_id"), maxlen=width, combiner="mean"))
        if reads_slot:
            columns.append(SparseFeat("slot", POSITION_BUCKETS, embedding_dim=16))
        for name in MODELS:
            tf.keras.utils.set_random_seed(seed)
            model = builders[name](columns, task_names=("ctr", "ctcvr"), seed=seed)
            model.compile("adam", loss=["binary_crossentropy", "binary_crossentropy"])
            best, best_auc, best_epoch, waited = model.get_weights(), -1.0, 0, 0
            for epoch in range(1, max_epochs + 1):
                model.fit(train, labels, batch_size=512, epochs=1, verbose=0, shuffle=True)
                ctr = model.predict(validation, batch_size=4096, verbose=0)[0].ravel()
                score = metrics.auc(parts["validation"]["label_ctr"].to_numpy(), ctr)
                if score > best_auc:
                    best, best_auc, best_epoch, waited = model.get_weights(), score, epoch, 0
                else:
                    waited += 1
                    if waited >= 2:
                        break
            model.set_weights(best)
            scores = {"best_epoch": np.array(best_epoch)}
            views = (("observed", None), ("served", 0)) if reads_slot else (("served", None),)
            for view, slot in views:
                ctr, ctcvr = model.predict(inputs(parts["test"], slot), batch_size=4096, verbose=0)
                scores[f"{view}_ctr"], scores[f"{view}_ctcvr"] = ctr.ravel(), ctcvr.ravel()
            np.savez(folder / f"{name}-{setting}.npz", **scores)


def deepctr_metrics(folder: Path, test: pd.DataFrame) -> dict[str, dict[str, float]]:
    """AUC views of each DeepCTR model and setting on the test impressions."""
    from mtrec_tf import metrics

    click, conversion, slot = (test[c].to_numpy() for c in ("label_ctr", "label_cvr", "position"))
    results = {}
    for setting, reads_slot in SETTINGS:
        for name in MODELS:
            scores = np.load(folder / f"{name}-{setting}.npz")
            row = {"ctr auc": metrics.auc(click, scores["served_ctr"]),
                   "ctr position_auc": metrics.gauc(click, scores["served_ctr"], slot),
                   "CTCVR auc": metrics.auc(conversion, scores["served_ctcvr"]),
                   "best epoch": float(scores["best_epoch"])}
            if reads_slot:
                row["ctr observed_auc"] = metrics.auc(click, scores["observed_ctr"])
                row["CTCVR observed_auc"] = metrics.auc(conversion, scores["observed_ctcvr"])
            results[f"DeepCTR {name}, {setting}"] = row
    return results


def mtrec_metrics(base: list[str], prepared: PreparedData) -> dict[str, dict[str, float]]:
    """mtrec-tf's five-task model (configured by `base`) without and with ctr's position tower,
    on the test impressions."""
    from position_bias import VARIANTS, run_once

    from mtrec_tf.config import load_config
    from mtrec_tf.data.catalogue import build_catalogue

    config = load_config(None, base)
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, config.model.max_title_tokens,
                                features=config.features)
    results = {}
    for name, overrides in VARIANTS.items():
        variant = load_config(None, base + overrides)
        test = run_once(variant, prepared, catalogue)["test"]
        row = {"ctr auc": test["ctr"]["auc"], "ctr position_auc": test["ctr"]["position_auc"],
               "CTCVR auc": test["cvr"]["auc"]}
        if "observed_auc" in test["ctr"]:
            row["ctr observed_auc"] = test["ctr"]["observed_auc"]
            row["CTCVR observed_auc"] = test["cvr"]["observed_auc"]
        results[f"mtrec-tf, {name}"] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--scale", type=int, default=1, help="sample shop scale")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="more configuration of mtrec-tf's model")
    add_child_arguments(parser)
    args = parser.parse_args()
    if args.child:
        train_deepctr(args.child, args.seed, args.max_epochs)
        return

    import mtrec_tf  # noqa: F401
    from mtrec_tf.config import load_config
    from mtrec_tf.data.prepare import prepare_configured

    runs: list[dict[str, dict[str, float]]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        base = [f"seed={seed}", f"data.sample_scale={args.scale}", *args.set]
        prepared = prepare_configured(load_config(None, base))
        with tempfile.TemporaryDirectory(prefix="deepctr-") as scratch:
            folder = Path(scratch)
            parts = impression_rows(prepared)
            for part, frame in parts.items():
                frame.to_parquet(folder / f"{part}.parquet")
            run_child(__file__, folder, seed, args.max_epochs, "DeepCTR")
            run = deepctr_metrics(folder, parts["test"])
        run.update(mtrec_metrics(base, prepared))
        runs.append(run)
        print(f"seed {seed}: " + json.dumps(run), flush=True)

    columns = ("ctr auc", "ctr position_auc", "ctr observed_auc", "CTCVR auc", "CTCVR observed_auc")
    print(f"\nTest impressions, sample scale {args.scale}, seeds {args.seeds}: median [min, max]")
    print("| model | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name in runs[0]:
        cells = []
        for column in columns:
            values = [run[name][column] for run in runs if column in run[name]]
            cells.append(f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]" if values else "")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
