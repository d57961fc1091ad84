"""The HTTP API as a Ray Serve application: replicas that each own a scheduler, scaled on their queues.

Each replica runs the very app `completer.http.create_app` builds (same OpenAI-compatible routes,
same API key, same streaming), around its own lazily loaded scheduler, so a replica batches the
requests it is given exactly as `serve --http` does. Ray's proxies route requests to replicas and
Serve's autoscaler keeps the requests queued or in flight per replica near `target_queue`, adding
replicas up to `max_replicas` (and nodes, where the Ray cluster has an autoscaler). A client that
hangs up is cancelled by Ray in the replica, which frees its place at the scheduler's next pass.

Start it with `completer serve --ray HOST:PORT` (a local Ray instance, or the cluster `RAY_ADDRESS`
names) or with Ray's own CLI: `serve run completer.ray_serve:build model=PATH max_replicas=4`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass, fields, replace

import ray
from ray import serve
from ray.serve import Application

from completer.errors import BadInput, CompleterError
from completer.http import check_exposure, create_app
from completer.models import open_model

APP_NAME = "completer"


@dataclass(frozen=True)
class ReplicaOptions:
    """How the deployment scales; the defaults suit one CPU machine, raise them on a cluster."""

    model: str | None = None       # checkpoint folder or hub id; None: the bundled model
    api_key: str | None = None     # every route but /health then needs `Authorization: Bearer KEY`;
                                   # None: COMPLETER_API_KEY from the environment, if set
    min_replicas: int = 1
    max_replicas: int = 1
    target_queue: float = 8.0      # requests queued or in flight per replica that the autoscaler aims at
    max_queue: int = 32            # a replica takes no more than this many at once; Ray queues the rest
    cpus_per_replica: float = 1.0  # also the replica's torch threads
    gpus_per_replica: float = 0.0
    upscale_delay_s: float = 10.0
    downscale_delay_s: float = 300.0

    def __post_init__(self) -> None:
        """Refuse what Ray would refuse later with a traceback, before any Ray process starts."""
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise BadInput(f"replicas: need 0 <= min <= max and max >= 1 (got min {self.min_replicas}, "
                           f"max {self.max_replicas})")
        if self.target_queue <= 0 or self.max_queue < 1:
            raise BadInput(f"the target queue must be positive and the most a replica takes at least 1 "
                           f"(got {self.target_queue} and {self.max_queue})")
        if self.cpus_per_replica < 0 or self.gpus_per_replica < 0:
            raise BadInput(f"CPUs and GPUs per replica cannot be negative (got {self.cpus_per_replica}, "
                           f"{self.gpus_per_replica})")

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ReplicaOptions:
        """`serve run completer.ray_serve:build key=value ...` passes strings: convert by each field's default."""
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise BadInput(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        converted = {}
        for name, value in args.items():
            default = known[name].default
            try:
                converted[name] = value if default is None or isinstance(value, type(default)) else type(default)(value)
            except ValueError:
                raise BadInput(f"{name} must be a number (got {value!r})") from None
        return cls(**converted)

    def with_key_from_environment(self) -> ReplicaOptions:
        return replace(self, api_key=self.api_key or os.environ.get("COMPLETER_API_KEY") or None)


@serve.ingress()
class CompletionReplica:
    """One replica: the HTTP API around its own scheduler (built on the replica, never pickled)."""

    def __init__(self, model: str | None, api_key: str | None, threads: int) -> None:
        self.model, self.api_key = model, api_key
        self.threads = threads  # the CPUs Ray reserved for this replica, no more: replicas share nodes

    def __serve_build_asgi_app__(self):
        return create_app(lambda: open_model(self.model, threads=self.threads), api_key=self.api_key)


def application(options: ReplicaOptions) -> Application:
    """The Serve application for these options (bind it with `serve.run`)."""
    deployment = serve.deployment(
        CompletionReplica,
        name="completer",
        max_ongoing_requests=options.max_queue,
        autoscaling_config={
            "min_replicas": options.min_replicas,
            "max_replicas": options.max_replicas,
            "target_ongoing_requests": options.target_queue,
            "upscale_delay_s": options.upscale_delay_s,
            "downscale_delay_s": options.downscale_delay_s,
        },
        ray_actor_options={"num_cpus": options.cpus_per_replica, "num_gpus": options.gpus_per_replica},
    )
    return deployment.bind(options.model, options.api_key, max(1, math.floor(options.cpus_per_replica)))


def build(args: dict[str, str]) -> Application:
    """The application builder Ray's `serve run` and `serve deploy` call with `key=value` arguments."""
    return application(ReplicaOptions.from_args(args).with_key_from_environment())


def connect() -> None:
    """Join the Ray cluster `RAY_ADDRESS` names, or start a local Ray instance."""
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError) as error:
        raise CompleterError(f"cannot join the Ray cluster at {address} ({error}); a cluster that uses "
                             "token authentication also needs RAY_AUTH_MODE=token and its token") from None


def deploy(host: str, port: int, options: ReplicaOptions) -> None:
    """Deploy the application on the connected cluster; returns once its replicas are ready."""
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(options), name=APP_NAME, route_prefix="/")


def run(host: str, port: int, options: ReplicaOptions) -> None:
    """`completer serve --ray`: deploy, then serve until Ctrl-C or SIGTERM, which take the application down."""
    options = options.with_key_from_environment()
    check_exposure(host, options.api_key)  # before Ray starts
    connect()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # after ray.init, which installs its own handler
    try:
        deploy(host, port, options)
        print(f"completer: serving on http://{host}:{port}/v1 with Ray Serve (Ctrl-C stops)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()  # the application leaves the cluster; a local Ray instance stops with this process
        ray.shutdown()
