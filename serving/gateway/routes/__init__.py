"""The HTTP layers over the data plane: TF Serving's REST paths (v1), the Open Inference
Protocol (v2), and the operational endpoints (health, readiness, metrics, API docs)."""
