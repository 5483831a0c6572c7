"""DeepCTR's DeepFM on MovieLens 100K's rating task, on the split `bench/own_features.py` uses.

    pip install deepctr tf_keras        # bench only: not a dependency of mtrec-tf
    python bench/deepfm_movielens.py [--seeds 42,1,2] [--max-epochs 20]

For each seed, `configs/movielens.yaml` prepares its random 80/20 split (this process, with
mtrec-tf); a child process (Keras 2 through `tf_keras`, as DeepCTR needs) trains DeepFM on
the training part's ratings with the same features: user and item ids, age (8 quantile
buckets from training), gender, occupation, zip prefix, release year (bucketed by decade)
and the genres (a pooled sequence feature). Epochs are chosen by early stopping on 10% of
the training ratings held out (patience 2, the best weights restored); the test part is read
once. Prints the test RMSE of each seed and their mean ± std, to set beside the RMSE that
`bench/own_features.py` prints for mtrec-tf on the same split and seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from keras2_child import add_child_arguments, run_child

REPO = Path(__file__).resolve().parents[1]
SPARSE = ("user_id", "item_id", "age_bucket", "gender", "occupation", "zip_prefix", "decade")


def rating_rows(seed: int) -> dict[str, pd.DataFrame]:
    """The ratings of the training and test parts of `seed`'s split, with the features as
    integer codes fitted on the training part (0: unknown or missing)."""
    import mtrec_tf  # noqa: F401
    from mtrec_tf.config import load_config
    from mtrec_tf.data.prepare import prepare_data
    from mtrec_tf.data.public import load_movielens_100k, load_movielens_features
    from mtrec_tf.data.readers import load_data

    events, items = load_movielens_100k()
    users, attributes = load_movielens_features()
    config = load_config(REPO / "configs" / "movielens.yaml", [f"seed={seed}"])
    prepared = prepare_data(load_data(events, items), config.data, seed=seed)
    parts = {}
    for part in ("train", "test"):
        table = prepared.examples.parts[part].to_pandas()
        rated = table[table["mask_rating"] > 0]
        parts[part] = (rated[["user_id", "item_id", "label_rating"]].rename(columns={"label_rating": "rating"})
                       .merge(users, on="user_id", how="left").merge(attributes, on="item_id", how="left"))
    train = parts["train"]
    boundaries = np.unique(np.quantile(train["age"].dropna(), np.linspace(0, 1, 9)[1:-1]))
    for frame in parts.values():
        frame["age_bucket"] = np.where(frame["age"].isna(), "", np.digitize(frame["age"], boundaries).astype(str))
        frame["decade"] = np.where(frame["release_year"].isna(), "",
                                   (frame["release_year"] // 10 * 10).fillna(0).astype(int).astype(str))
    for column in SPARSE:
        codes = {value: i + 1 for i, value in enumerate(sorted(set(train[column].fillna("")) - {""}))}
        for frame in parts.values():
            frame[column] = frame[column].fillna("").map(codes).fillna(0).astype(np.int64)
    seen = sorted({g for value in train["genres"].fillna("") for g in value.split("|") if g})
    genres = {g: i + 1 for i, g in enumerate(seen)}
    for frame in parts.values():
        frame["genre_codes"] = [[genres.get(g, 0) for g in v.split("|") if g] for v in frame["genres"].fillna("")]
    return {name: frame[[*SPARSE, "genre_codes", "rating"]] for name, frame in parts.items()}


def train_deepfm(folder: Path, seed: int, max_epochs: int) -> None:
    """In a Keras 2 child process: DeepFM on folder/train.parquet, test RMSE on folder/test.parquet."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    from deepctr.feature_column import SparseFeat, VarLenSparseFeat
    from deepctr.models import DeepFM

    tf.keras.utils.set_random_seed(seed)
    train, test = (pd.read_parquet(folder / f"{part}.parquet") for part in ("train", "test"))
    width = max(1, max(len(g) for g in train["genre_codes"]))

    def inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        values = {column: frame[column].to_numpy() for column in SPARSE}
        values["genres"] = tf.keras.utils.pad_sequences(list(frame["genre_codes"]), maxlen=width, padding="post")
        return values

    columns = [SparseFeat(column, int(max(train[column].max(), test[column].max())) + 1, embedding_dim=16)
               for column in SPARSE]
    genre_count = int(max(max((max(g, default=0) for g in frame["genre_codes"]), default=0)
                          for frame in (train, test))) + 1
    columns.append(VarLenSparseFeat(SparseFeat("genres", genre_count, embedding_dim=16), maxlen=width,
                                    combiner="mean"))
    model = DeepFM(columns, columns, task="regression", seed=seed)
    model.compile("adam", "mse")
    order = np.random.default_rng(seed).permutation(len(train))
    held = order[: len(order) // 10]
    fit = order[len(order) // 10:]
    stop = tf.keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(inputs(train.iloc[fit]), train["rating"].to_numpy()[fit], batch_size=512, epochs=max_epochs,
                        validation_data=(inputs(train.iloc[held]), train["rating"].to_numpy()[held]),
                        callbacks=[stop], verbose=0)
    predicted = model.predict(inputs(test), batch_size=4096, verbose=0).ravel()
    print(json.dumps({"rmse": float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2))),
                      "epochs_run": len(history.epoch), "best_epoch": int(stop.best_epoch) + 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--max-epochs", type=int, default=20)
    add_child_arguments(parser)
    args = parser.parse_args()
    if args.child:
        train_deepfm(args.child, args.seed, args.max_epochs)
        return

    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory(prefix="deepfm-") as scratch:
            folder = Path(scratch)
            for part, frame in rating_rows(seed).items():
                frame.to_parquet(folder / f"{part}.parquet")
            stdout = run_child(__file__, folder, seed, args.max_epochs, "DeepFM")
            result = json.loads(stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"seed {seed}: DeepFM test RMSE {result['rmse']:.4f} (best epoch {result['best_epoch']} of "
              f"{result['epochs_run']} run)", flush=True)
    rmse = np.array([r["rmse"] for r in results])
    print(f"\nDeepFM rating RMSE on the test part, seeds {args.seeds}: {rmse.mean():.4f} ± {rmse.std():.4f}")


if __name__ == "__main__":
    main()
