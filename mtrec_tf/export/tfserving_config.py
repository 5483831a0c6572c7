"""`serving/` beside an export: the model server config, batching parameters, and the
command that runs the `tensorflow/serving` image on them."""

from __future__ import annotations

import os
from pathlib import Path

from mtrec_tf.io_utils import as_path, is_url, join, write_text_atomic

CONTAINER_MODELS = "/models"


def models_config(model_name: str, base_path: str, keep_versions: int = 2) -> str:
    """A `ModelServerConfig` text proto: one model, the newest `keep_versions` versions served."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{model_name}"\n'
        f'    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ latest {{ num_versions: {keep_versions} }} }}\n"
        "  }\n"
        "}\n"
    )


def batching_parameters(max_batch_size: int = 256, timeout_micros: int = 2000, threads: int = 4) -> str:
    """`BatchingParameters` text proto for `--enable_batching`."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {timeout_micros} }}\n"
        f"max_enqueued_batches {{ value: 100 }}\n"
        f"num_batch_threads {{ value: {threads} }}\n"
        "pad_variable_length_inputs: true\n"
    )


def docker_command(export_root: str | os.PathLike, serving_dir: str | os.PathLike) -> str:
    """`docker run` of TF Serving on the export (gRPC 8500, REST 8501, batching on)."""
    return (
        "docker run --rm -p 8500:8500 -p 8501:8501 \\\n"
        f'  -v "{_mount(export_root)}:{CONTAINER_MODELS}" \\\n'
        f'  -v "{_mount(serving_dir)}:/config" \\\n'
        "  tensorflow/serving:2.20.0 \\\n"
        "  --model_config_file=/config/models.config \\\n"
        "  --enable_batching=true --batching_parameters_file=/config/batching.config \\\n"
        "  --enable_model_warmup=true\n"
    )


def _mount(path: str | os.PathLike) -> str:
    # A URL cannot be mounted: the script then names it, to be copied to a local folder first.
    return os.fspath(path) if is_url(path) else str(Path(path).resolve())


def write_serving_config(serving_dir: str | os.PathLike, export_root: str | os.PathLike,
                         model_name: str) -> Path | str:
    """Writes `models.config`, `batching.config` and `run_tfserving.sh` into `serving_dir`."""
    write_text_atomic(join(serving_dir, "models.config"),
                      models_config(model_name, f"{CONTAINER_MODELS}/{model_name}"))
    write_text_atomic(join(serving_dir, "batching.config"), batching_parameters())
    write_text_atomic(join(serving_dir, "run_tfserving.sh"), "#!/bin/sh\n" + docker_command(export_root, serving_dir))
    return as_path(serving_dir)
