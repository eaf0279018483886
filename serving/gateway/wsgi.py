"""The WSGI entry point gunicorn runs: `serving.gateway.wsgi:app`.

Settings come from the GATEWAY_* environment; the gRPC channel opens lazily in each worker.
"""

from serving.gateway import create_app

app = create_app()
