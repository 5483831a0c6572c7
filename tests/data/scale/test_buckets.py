"""User buckets: a function of the user id alone, the same in every process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

from mtrec_tf.data.scale.buckets import BucketStore, user_buckets


def test_a_users_bucket_depends_on_the_id_alone_and_spreads_users_evenly():
    users = np.array([f"u{i}" for i in range(20_000)], dtype=object)
    buckets = user_buckets(users, 16)
    assert ((buckets >= 0) & (buckets < 16)).all()
    assert np.array_equal(user_buckets(users[::-1], 16), buckets[::-1])
    counts = np.bincount(buckets, minlength=16)
    assert counts.min() > 0.85 * len(users) / 16 and counts.max() < 1.15 * len(users) / 16


def test_another_process_puts_users_in_the_same_buckets():
    users = [f"user-{i}" for i in range(50)] + ["用户", ""]
    code = ("import sys, json; from mtrec_tf.data.scale.buckets import user_buckets; "
            "print(json.dumps(user_buckets(json.loads(sys.argv[1]), 7).tolist()))")
    import json

    out = subprocess.run([sys.executable, "-c", code, json.dumps(users)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == user_buckets(users, 7).tolist()


def test_a_bucket_reads_back_its_rows_in_the_order_they_were_written(tmp_path):
    store = BucketStore(tmp_path, 3)
    first = pd.DataFrame({"user_id": ["a", "b", "c", "a"], "timestamp": [4, 3, 2, 1], "event_number": [0, 1, 2, 3]})
    second = pd.DataFrame({"user_id": ["c", "a"], "timestamp": [9, 8], "event_number": [4, 5]})
    store.add(first)
    store.add(second)
    seen = []
    for bucket in range(3):
        frame = store.read(bucket)
        if frame is not None:
            assert (np.diff(frame["event_number"]) > 0).all()
            seen += list(frame["event_number"])
    assert sorted(seen) == list(range(6))
    assert sorted(np.concatenate(list(store.timestamps()))) == [1, 2, 3, 4, 8, 9]
