"""Both drivers read their tables from URLs and write their examples under one, as on Google
Cloud Storage (`gs://`); TensorFlow's in-memory file system (`ram://`) stands in for a bucket."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from driver_outputs import assert_written_as_in_memory, write_sample_tables

from mtrec_tf.backend import tf
from mtrec_tf.config import load_config
from mtrec_tf.data.examples_dir import ExamplesDir
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import prepare_configured, write_prepared
from mtrec_tf.data.readers import read_table
from mtrec_tf.data.scale.beam import write_examples_with_beam
from mtrec_tf.data.scale.local import write_examples_locally
from mtrec_tf.errors import DataValidationError


def _upload(folder, url: str) -> None:
    for path in folder.rglob("*"):
        target = f"{url}/{path.relative_to(folder).as_posix()}"
        if path.is_dir():
            tf.io.gfile.makedirs(target)
        else:
            tf.io.gfile.copy(str(path), target, overwrite=True)


def _download(url: str, folder) -> None:
    for root, _, files in tf.io.gfile.walk(url):
        local = folder / root[len(url):].strip("/")
        local.mkdir(parents=True, exist_ok=True)
        for name in files:
            tf.io.gfile.copy(f"{root}/{name}", str(local / name), overwrite=True)


@pytest.fixture(scope="module")
def tables(sample_world, tmp_path_factory):
    """The sample's tables on disk and the same files under a URL."""
    folder = write_sample_tables(sample_world, tmp_path_factory.mktemp("tables"), event_files=2)
    url = f"ram://{uuid.uuid4().hex}/tables"
    _upload(folder, url)
    return folder, url


def _config(tables: str, method: str = "time"):
    return load_config(None, [f"data.events={tables}/events", f"data.items={tables}/items.parquet",
                              f"data.queries={tables}/queries.parquet", f"data.split.method={method}",
                              "data.history_length=20"])


@pytest.mark.parametrize("driver", ["local", "DirectRunner"])
def test_a_driver_reads_and_writes_urls_as_it_does_folders(tables, tmp_path, driver):
    folder, url = tables
    memory = write_prepared(prepare_configured(_config(str(folder))), tmp_path / "memory")
    out = f"ram://{uuid.uuid4().hex}/examples"
    if driver == "local":
        summary = write_examples_locally(_config(url), out, buckets=3, rows_per_chunk=10_000)
    else:
        summary = write_examples_with_beam(_config(url), out, pipeline_args=["--direct_running_mode=in_memory"],
                                           buckets=3, rows_per_chunk=10_000)

    assert [table["source"] for table in summary["tables"]] == [
        f"{url}/events", f"{url}/items.parquet", f"{url}/queries.parquet"]
    for table in summary["tables"]:
        table["source"] = table["source"].replace(url, str(folder))
    assert not [name for name in tf.io.gfile.listdir(out) if name.startswith(".")]
    _download(out, tmp_path / "downloaded")
    assert_written_as_in_memory(summary, tmp_path / "downloaded", memory, tmp_path / "memory")


def test_training_streams_the_shards_under_a_url_as_from_a_folder(tables, tmp_path):
    folder, url = tables
    out = f"ram://{uuid.uuid4().hex}/examples"
    write_examples_locally(_config(url), out, buckets=2)
    (tmp_path / "config.yaml").write_text("{}\n", encoding="utf-8")
    tf.io.gfile.copy(str(tmp_path / "config.yaml"), f"{out}/config.yaml")
    _download(out, tmp_path / "downloaded")

    remote, local = ExamplesDir.open(out), ExamplesDir.open(tmp_path / "downloaded")
    assert remote.table("validation").equals(local.table("validation"))
    batches = [make_dataset(examples.files("train"), batch_size=256, history_length=20)
               for examples in (remote, local)]
    for (features, labels, _), (expected, expected_labels, _) in zip(*batches):
        assert np.array_equal(features["history_item_ids"].numpy(), expected["history_item_ids"].numpy())
        assert np.array_equal(labels["ctr"].numpy(), expected_labels["ctr"].numpy())


def test_a_broken_file_under_a_url_is_named(tables):
    _, url = tables
    broken = f"ram://{uuid.uuid4().hex}/events.parquet"
    with tf.io.gfile.GFile(broken, "wb") as out:
        out.write(b"PAR1 not a parquet file")
    with pytest.raises(DataValidationError, match=rf"{broken}: cannot read Parquet file"):
        write_examples_locally(load_config(None, [f"data.events={broken}", f"data.items={url}/items.parquet"]),
                               f"ram://{uuid.uuid4().hex}/out")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_text_table_and_its_image_files_under_a_url_read_as_on_disk(sample_world, tmp_path, suffix):
    items = sample_world.items.head(30).copy()
    (tmp_path / "images").mkdir()
    for item_id, image in zip(items["item_id"], items["image"]):
        (tmp_path / "images" / f"{item_id}.png").write_bytes(image)
    items["image"] = [f"images/{item_id}.png" for item_id in items["item_id"]]
    items.loc[items.index[3], "image"] = "images/missing.png"
    if suffix == ".csv":
        items.to_csv(tmp_path / f"items{suffix}", index=False)
    else:
        items.to_json(tmp_path / f"items{suffix}", orient="records", lines=True, force_ascii=False)
    url = f"ram://{uuid.uuid4().hex}/shop"
    _upload(tmp_path, url)

    local, local_report = read_table(tmp_path / f"items{suffix}", "items", bad_rows="skip")
    remote, remote_report = read_table(f"{url}/items{suffix}", "items", bad_rows="skip")
    pd.testing.assert_frame_equal(remote, local)
    assert remote["image"].notna().sum() == 29
    assert remote_report.repaired == local_report.repaired and sum(remote_report.repaired.values()) == 1
    assert remote_report.source == f"{url}/items{suffix}"


def test_the_command_line_builds_from_a_url_into_a_url(tables, capsys):
    from trainer.cli import main

    _, url = tables
    out = f"ram://{uuid.uuid4().hex}/examples"
    assert main(["data", "examples", url, "--out", out, "--buckets", "2", "--set", "data.history_length=20"]) == 0
    built = ExamplesDir.open(out)
    assert built.config.data.events == f"{url}/events" and built.summary["driver"] == {"runner": "local", "buckets": 2}
    assert sum(built.count(part) for part in ("train", "validation", "test")) > 80_000
    assert f"wrote parquet shards to {out}" in capsys.readouterr().out
