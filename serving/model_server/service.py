"""The gRPC servicers: TF Serving's PredictionService (Predict, GetModelMetadata) and
ModelService (GetModelStatus), over the manager. Thin: resolve the servable, call the
core, turn ServingError into the gRPC status TF Serving would send.
"""

from __future__ import annotations

import logging

import grpc

from protogen.tfserving import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from serving.model_server.errors import ServingError, invalid_argument, not_found
from serving.model_server.manager import Manager
from serving.model_server.predict import run_predict

log = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"


def resolve(manager: Manager, spec: model_pb2.ModelSpec):
    """The servable a ModelSpec names: a version, a version label, or the newest."""
    if not spec.name:
        raise invalid_argument("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return manager.get_servable(spec.name, version=spec.version.value)
    if choice == "version_label":
        return manager.get_servable(spec.name, label=spec.version_label)
    return manager.get_servable(spec.name)


def _abort(context: grpc.ServicerContext, method: str, exc: Exception):
    if isinstance(exc, ServingError):
        log.debug("%s: %s %s", method, exc.code.name, exc.message)
        context.abort(exc.code, exc.message)
    log.exception("%s failed unexpectedly", method)
    context.abort(grpc.StatusCode.INTERNAL, f"{method} failed: internal error")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService: Predict and GetModelMetadata."""

    def __init__(self, manager: Manager):
        self._manager = manager

    def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
        try:
            servable = resolve(self._manager, request.model_spec)
            return run_predict(servable, request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            _abort(context, "Predict", exc)

    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        try:
            return self._metadata(request)
        except Exception as exc:  # noqa: BLE001
            _abort(context, "GetModelMetadata", exc)

    def _metadata(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = resolve(self._manager, request.model_spec)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus."""

    def __init__(self, manager: Manager):
        self._manager = manager

    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context
    ) -> get_model_status_pb2.GetModelStatusResponse:
        try:
            return self._status(request)
        except Exception as exc:  # noqa: BLE001
            _abort(context, "GetModelStatus", exc)

    def _status(self, request):
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        name = request.model_spec.name
        statuses = self._manager.statuses(name)
        if request.model_spec.HasField("version"):
            wanted = request.model_spec.version.value
            statuses = [s for s in statuses if s.version == wanted]
            if not statuses:
                raise not_found(f"Could not find version {wanted} of model {name}")
        elif not statuses:
            raise not_found(f"Could not find any versions of model {name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            item = response.model_version_status.add()
            item.version = status.version
            item.state = status.state
            item.status.error_code = status.error_code
            item.status.error_message = status.error_message
        return response
