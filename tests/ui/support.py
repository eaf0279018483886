"""Helpers of the web page's browser tests: the API outside the browser, a second gateway
with other settings, and test images."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
from PIL import Image

from tests.model_server.support import ROOT, free_port, wait_for


def api(base_url: str, path: str, body: dict | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """One call to a gateway's API outside the browser: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {**({"Content-Type": "application/json"} if data else {}), **(headers or {})}
    request = urllib.request.Request(base_url + path, data=data, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextlib.contextmanager
def second_gateway(stack, env: dict[str, str]) -> Iterator[str]:
    """Another gunicorn gateway on the stack's model server, with extra GATEWAY_* settings;
    yields its URL once /healthz answers."""
    bind = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [stack.python, "-m", "gunicorn", "-c", "serving/gunicorn.conf.py",
         "serving.gateway.wsgi:app"],
        cwd=ROOT,
        env={**os.environ, "GATEWAY_BIND": bind, "GATEWAY_BACKEND_ADDRESS": stack.grpc_address,
             "GATEWAY_MODEL_ROOT": str(stack.models_dir), "GATEWAY_WORKERS": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://{bind}"

    def healthy() -> bool:
        assert proc.poll() is None, f"the gateway exited with status {proc.returncode}"
        return api(url, "/healthz")[0] == 200

    try:
        wait_for(healthy, 60, f"a gateway at {url}")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def digit_png(raw: np.ndarray, low: float, high: float, scale: int = 8) -> bytes:
    """A raw image instance (H×W×1 in the training range) as a PNG, `scale` times larger."""
    gray = np.clip((raw[..., 0] - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    image = Image.fromarray(gray, mode="L").resize(
        (gray.shape[1] * scale, gray.shape[0] * scale), Image.Resampling.NEAREST
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
