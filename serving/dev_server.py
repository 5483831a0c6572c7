"""A development server for machines without TF Serving: TF Serving's REST and gRPC protocols over
the SavedModels under a model base path (`<base>/<version>/saved_model.pb`).

It answers the same requests with the same JSON, protos and status codes as `tensorflow_model_server
--model_base_path=<base> --model_name=<name>` with the default "latest version" policy, so a client
tested against it works against TF Serving. Not for production: one process, no batching.

Example:
    python -m serving.dev_server --model-base-path runs/quickstart/model/export/mtrec \\
        --rest-port 8501 --grpc-port 8500

    with DevServer(base_path) as server:
        requests.post(f"{server.rest_url}/v1/models/mtrec:predict", json={...})
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.contract import DEFAULT_MODEL_NAME
from serving.repository import ModelRepository
from serving.rest import RestApi, RestServer

logger = logging.getLogger(__name__)

DEFAULT_MAX_REQUEST_BYTES = 16 << 20
REST_PORT, GRPC_PORT = 8501, 8500   # TF Serving's


class DevServer:
    """The repository, the REST server and the gRPC server, started and stopped together.

    Args:
        base_path: the model base path; its newest complete version is served.
        model_name: the name clients ask for.
        rest_port: the REST port; 0 picks a free one; None: no REST server.
        grpc_port: the gRPC port; 0 picks a free one; None: no gRPC server.
        host: the address both listen on ("0.0.0.0" to accept other machines).
        poll_seconds: how often new versions are looked for.
        max_request_bytes: larger requests get 413 (REST) or RESOURCE_EXHAUSTED (gRPC).

    After `start()`, `rest_port` and `grpc_port` hold the bound ports.

    Example:
        with DevServer("export/mtrec") as server:
            print(server.rest_url, server.grpc_target)
    """

    def __init__(self, base_path: str | Path, model_name: str = DEFAULT_MODEL_NAME, rest_port: int | None = 0,
                 grpc_port: int | None = 0, host: str = "127.0.0.1", poll_seconds: float = 1.0,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        if max_request_bytes <= 0:
            raise ValueError(f"max_request_bytes must be positive, got {max_request_bytes}")
        self.repository = ModelRepository(base_path, model_name, poll_seconds)
        self.host = host
        self.rest_port = rest_port
        self.grpc_port = grpc_port
        self.max_request_bytes = max_request_bytes
        self._rest: RestServer | None = None
        self._grpc: Any = None

    @property
    def rest_url(self) -> str:
        return f"http://{self._client_host()}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self._client_host()}:{self.grpc_port}"

    def start(self) -> DevServer:
        """Loads the newest version, then listens; returns self."""
        self.repository.start()
        try:
            if self.rest_port is not None:
                self._rest = RestServer(RestApi(self.repository), self.host, self.rest_port, self.max_request_bytes)
                self.rest_port = self._rest.port
                self._rest.start()
            if self.grpc_port is not None:
                from serving.grpc_service import GrpcServer

                self._grpc = GrpcServer(self.repository, self.host, self.grpc_port, self.max_request_bytes)
                self.grpc_port = self._grpc.port
                self._grpc.start()
        except BaseException:
            self.stop()
            raise
        logger.info("serving %s from %s: REST port %s, gRPC port %s", self.repository.model_name,
                    self.repository.base_path, self.rest_port, self.grpc_port)
        return self

    def stop(self) -> None:
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop()
            self._grpc = None
        self.repository.stop()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _client_host(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"[{host}]" if ":" in host else host


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The development server's options (`python -m serving.dev_server`, `mtrec serve`)."""
    parser.add_argument("--model-base-path", required=True, help="folder of numbered SavedModel versions")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="the model name clients ask for")
    parser.add_argument("--rest-port", type=int, default=REST_PORT, help="REST port (0: any free port)")
    parser.add_argument("--grpc-port", type=int, default=GRPC_PORT, help="gRPC port (0: any free port)")
    parser.add_argument("--no-grpc", action="store_true", help="serve REST only")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new versions")
    parser.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="larger requests are refused")
    parser.add_argument("--exit-if-missing", action="store_true",
                        help="exit with status 2 if --model-base-path is not a folder; without it the server "
                             "starts with no model, warns once, and serves the first version that appears")


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the server cleanly, whatever the parent process left
    ignored or blocked (a background shell ignores SIGINT; some libraries block signals)."""
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    for number in stops:
        signal.signal(number, signal.default_int_handler)


def run_from_args(args: argparse.Namespace) -> int:
    """Serves until Ctrl-C or SIGTERM; returns the exit status. Meant to end the process.

    Raises:
        FileNotFoundError: with `--exit-if-missing`, when the model base path is not a folder.
    """
    if args.exit_if_missing and not Path(args.model_base_path).is_dir():
        raise FileNotFoundError(f"model base path {args.model_base_path} is not a folder (--exit-if-missing)")
    _stop_on_signals()
    server = DevServer(args.model_base_path, args.model_name, rest_port=args.rest_port,
                       grpc_port=None if args.no_grpc else args.grpc_port, host=args.host,
                       poll_seconds=args.poll_seconds, max_request_bytes=args.max_request_bytes)
    with server:
        version = server.repository.refresh()
        grpc = "" if server.grpc_port is None else f", gRPC at {server.grpc_target}"
        try:
            # Inside the try: a stop sent as soon as the line is read may come before the loop.
            print(f"Serving model {args.model_name!r} ({'version ' + str(version) if version else 'no version yet'}) "
                  f"from {args.model_base_path}: REST at {server.rest_url}/v1/models/{args.model_name}{grpc}. "
                  "Ctrl-C stops.", flush=True)
            # A signal may land on one of gRPC's threads, which leaves an untimed wait asleep:
            # waking often lets the main thread run the handler within a fraction of a second.
            while True:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    # The process ends next: spare it the collector's passes over TensorFlow's objects (seconds).
    gc.freeze()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.dev_server", description=__doc__.splitlines()[0])
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run_from_args(args)
    except FileNotFoundError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
