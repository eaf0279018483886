"""The HTTP gateway: raw inputs in, labels out, via TF Serving's gRPC API.

`create_app(settings=None, backend=None)` builds the Flask app; `serving.gateway.wsgi:app`
is what gunicorn runs (`gunicorn -c serving/gunicorn.conf.py serving.gateway.wsgi:app`).
This package never imports TensorFlow.

Importing the package is cheap on purpose: gunicorn's master reads
`serving.gateway.settings` before it forks, and must not import prometheus_client
before PROMETHEUS_MULTIPROC_DIR is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from serving.gateway.backend import Backend
    from serving.gateway.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> Flask:
    """Build the gateway app (see `serving.gateway.app.create_app`)."""
    from serving.gateway.app import create_app as _create_app

    return _create_app(settings, backend)
