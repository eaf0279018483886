"""The HTTP gateway: raw inputs in, labels out, via TF Serving's gRPC API.

`create_app(settings=None, backend=None)` builds the Flask app; `serving.gateway.wsgi:app`
is what gunicorn runs (`gunicorn -c serving/gunicorn.conf.py serving.gateway.wsgi:app`).
This package never imports TensorFlow.
"""

from serving.gateway.app import create_app

__all__ = ["create_app"]
