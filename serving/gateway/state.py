"""The per-app objects the blueprints use, kept in `app.extensions["gateway"]`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from serving.gateway.backend import Backend
from serving.gateway.dataplane import DataPlane
from serving.gateway.readiness import ReadinessProbe
from serving.gateway.settings import Settings

EXTENSION = "gateway"


@dataclass(frozen=True)
class GatewayState:
    """What `create_app` wires together: settings, the backend and the services on it."""

    settings: Settings
    backend: Backend
    dataplane: DataPlane
    readiness: ReadinessProbe


def state() -> GatewayState:
    """The state of the app handling the current request."""
    return current_app.extensions[EXTENSION]
