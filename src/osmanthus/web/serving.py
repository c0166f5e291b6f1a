"""Running the service on uvicorn: one process or several workers, each logging one JSON
line per request, with metrics that add up across the workers.

With ``--workers N`` uvicorn starts each worker as a new process, which does not inherit
handlers added in the supervisor: the request log is configured through uvicorn's
``log_config``, which every worker applies when it starts. Each worker counts its
requests in its own memory; with more than one, the counters live in files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode: a temporary folder
made here and removed at exit, unless the environment names one) and ``/metrics`` adds
up every worker's (:mod:`osmanthus.web.observability`).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osmanthus.settings import Settings

__all__ = ["log_config", "serve"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with the request log added: one JSON line per
    request on standard error, from every worker."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["osmanthus_json"] = {"format": "%(message)s"}
    config["handlers"]["osmanthus_access"] = {
        "formatter": "osmanthus_json",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["osmanthus.web.access"] = {
        "handlers": ["osmanthus_access"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def _metrics_dir() -> tuple[Path, bool]:
    """The folder of the workers' counters, emptied; True if made here (then removed)."""
    named = os.environ.get(MULTIPROC_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # a previous run's counts would be added in
            stale.unlink()
        return folder, False
    return Path(tempfile.mkdtemp(prefix="osmanthus-metrics-")), True


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the app on uvicorn (uvloop, httptools) until interrupted."""
    import uvicorn

    # forwarded headers only from the proxies the settings name (uvicorn would believe
    # any connection from 127.0.0.1 by default)
    allowed = settings.trusted_proxies.strip()
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_config": log_config(),
        "proxy_headers": bool(allowed),
        "forwarded_allow_ips": allowed or None,
        "root_path": settings.root_path,
    }
    if workers == 1:
        from osmanthus.web import create_app

        uvicorn.run(create_app(settings), **common)
        return
    if settings.demo_mode:  # each worker reads its settings from the environment
        os.environ["OSMANTHUS_DEMO_MODE"] = "true"
    folder, made = _metrics_dir()
    os.environ[MULTIPROC_ENV] = str(folder)  # before any worker imports prometheus_client
    try:
        uvicorn.run("osmanthus.web.app:from_environment", factory=True, workers=workers, **common)
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
