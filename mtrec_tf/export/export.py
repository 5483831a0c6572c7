"""Export a trained model as a versioned SavedModel that TF Serving can poll.

The version is written into a hidden temporary directory beside its final place, audited,
given its contract (`assets.extra/contract.json`) and warmup requests, and only then renamed
to `<export_root>/<model_name>/<version>/`, so a server polling the base path never sees half
a version. Staging folders that killed exports left behind are removed by the next export of
the model (see `staging`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np

from mtrec_tf import progress
from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.export.export_contract import write_export_contract
from mtrec_tf.export.op_audit import check_saved_model
from mtrec_tf.export.signatures import ServingModule
from mtrec_tf.export.staging import remove_stale_staging, staging_name
from mtrec_tf.export.tfserving_config import write_serving_config
from mtrec_tf.export.warmup import write_warmup_requests
from mtrec_tf.io_utils import as_path, exists, folder_size, isdir, join, listdir, makedirs, parent, rename, rmtree
from mtrec_tf.models import MultiTaskModel
from serving.contract import DEFAULT_MODEL_NAME, Contract


@dataclasses.dataclass
class ExportResult:
    """Where a version went and what it holds."""

    path: Path | str
    version: int
    signatures: list[str]
    op_types: set[str]
    bytes: int
    seconds: float
    contract: Contract | None = None


def next_version(base_path: str | os.PathLike) -> int:
    """One more than the newest numeric version under `base_path` (1 when there is none)."""
    names = listdir(base_path) if exists(base_path) else []
    versions = [int(name) for name in names if name.isdigit() and isdir(join(base_path, name))]
    return max(versions, default=0) + 1


def export_model(model: MultiTaskModel, statistics: DataStatistics, catalogue: Catalogue, history_length: int,
                 export_root: str | os.PathLike, *, model_name: str = DEFAULT_MODEL_NAME, version: int | None = None,
                 target: str = "tfserving", top_k: int = 100, serving_dir: str | os.PathLike | None = None
                 ) -> ExportResult:
    """Writes `export_root/model_name/version/` and the TF Serving config in `serving_dir`.

    Args:
        model: the trained model.
        statistics, catalogue: what it was built from (item ids, categories, images).
        history_length: histories longer than this are cut to their most recent events.
        export_root: the folder that holds one folder per model name (local, or a URL such as gs://...).
        model_name: TF Serving's model name.
        version: the version number; by default one more than the newest present.
        target: `core`, `tfserving` or `tfserving-2.13`; ops the target lacks fail the export.
        top_k: items returned by `retrieve`.
        serving_dir: where `models.config` and the batching file go (default: beside export_root).
    """
    start = time.perf_counter()
    base_path = join(export_root, model_name)
    version = next_version(base_path) if version is None else version
    final = join(base_path, str(version))
    if exists(final):
        raise FileExistsError(f"{final} already exists: export another --version")
    makedirs(base_path)
    removed = remove_stale_staging(base_path)
    if removed:
        progress.say(f"removed {len(removed)} staging folder(s) of interrupted exports: {', '.join(removed)}")

    item_ids = list(statistics.items)
    with progress.step("encoding the catalogue") as done:
        module = ServingModule(model, item_ids, list(statistics.categories), history_length, top_k=top_k)
        done.report(f"{len(item_ids):,} items", len(item_ids), "items")
    signatures = module.signatures()
    staging = join(base_path, staging_name(version))
    try:
        with progress.step("tracing and saving") as done:
            tf.saved_model.save(module, staging, signatures=signatures)
            done.report(f"{len(signatures)} signatures")
        op_types = check_saved_model(staging, target)
        top = module.index_k if module.index is not None else None
        contract = write_export_contract(staging, module.served_tasks(), statistics.event_roles.to_mapping(),
                                         history_length, top, module.features, model.history_searches)
        image_png = tf.io.encode_png(_warmup_pixels(catalogue)).numpy()
        search = statistics.event_roles.search if model.history_searches else None
        write_warmup_requests(staging, model_name, sorted(signatures), item_ids, image_png, module.features,
                              statistics.event_roles.behaviour, search)
        rename(staging, final)
    except BaseException:
        rmtree(staging)
        raise
    write_serving_config(serving_dir if serving_dir else join(parent(export_root), "serving"),
                         export_root, model_name)
    size = folder_size(final)
    return ExportResult(as_path(final), version, sorted(signatures), op_types, size, time.perf_counter() - start,
                        contract)


def _warmup_pixels(catalogue: Catalogue) -> np.ndarray:
    """A catalogue image for the warmup requests of `image_category`; a blank one when the
    catalogue holds none."""
    if catalogue.image is None:
        return np.zeros((catalogue.image_size, catalogue.image_size, 3), np.uint8)
    return catalogue.image[1 if len(catalogue.image) > 1 else 0]
