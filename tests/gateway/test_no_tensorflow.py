"""The gateway's gRPC client and tensor codec work in a process where TensorFlow cannot
be imported (the gateway image carries none): a subprocess whose import system refuses
tensorflow, keras and tensorflow_serving talks to the real model server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.model_server.support import ROOT, start_server

BLOCKER = textwrap.dedent(
    """
    import sys

    BLOCKED = ("tensorflow", "tensorflow_serving", "keras", "tf_keras")

    class NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the gateway must not import it")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    """
)

PROGRAM = BLOCKER + textwrap.dedent(
    """
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not work")

    import numpy as np
    import protogen.tfserving.predict_pb2
    from serving.gateway import tensors
    from serving.gateway.grpc_client import TFServingClient

    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert (tensors.to_ndarray(tensors.to_tensor_proto(array)) == array).all()

    client = TFServingClient(sys.argv[1], deadline_seconds=30)
    info = client.metadata("digits")
    (name, spec), = info.inputs.items()
    shape = [2 if d == -1 else d for d in spec.shape]
    version, outputs = client.predict("digits", {name: np.zeros(shape, np.float32)})
    assert version == info.version, (version, info.version)
    assert outputs["probabilities"].shape[0] == 2
    client.close()

    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("OK", version)
    """
)


@pytest.fixture(scope="module")
def address(model_repo):
    server = start_server(model_config_file=model_repo.config_path, file_system_poll_wait_seconds=0)
    yield f"127.0.0.1:{server.port}"
    server.stop(grace=1)


def test_client_and_codec_work_without_tensorflow(address):
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, address],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("OK ")
