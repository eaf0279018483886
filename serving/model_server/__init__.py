"""A local stand-in for TensorFlow Serving: its gRPC API (PredictionService.Predict and
GetModelMetadata, ModelService.GetModelStatus) over the same model repository, with the
same flags, version policies, warm-up and availability-preserving rollouts.

Run it with `python -m serving.model_server --model_config_file models/models.config`;
in tests, `ModelServer(options).start()` (serving.model_server.server).
"""
