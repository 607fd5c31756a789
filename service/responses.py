"""The one place a prediction becomes a response: HTTP bodies and stream messages alike.

JSON is written straight from the `Prediction` with the standard library's C encoder: a
pydantic model per prediction only to serialise it again cost more than the encoding itself
(the models in `schemas.py` still document both shapes in the OpenAPI schema).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from service.predictor import Prediction

_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def prediction_fields(prediction: Prediction) -> dict[str, object]:
    """`PredictResponse`'s fields, in its order."""
    return {
        "activity": prediction.activity,
        "probabilities": prediction.probabilities,
        "view_weights": prediction.view_weights,
        "views_used": prediction.views_used,
        "model_version": prediction.model_version,
        "latency_ms": prediction.latency_ms,
    }


def prediction_json(prediction: Prediction) -> str:
    """The body of `POST /v1/predict` (`PredictResponse`)."""
    return _compact(prediction_fields(prediction))


def batch_json(predictions: Sequence[Prediction]) -> str:
    """The body of `POST /v1/predict/batch` (`BatchPredictResponse`)."""
    return _compact({"predictions": [prediction_fields(p) for p in predictions]})


def prediction_message_json(prediction: Prediction, t_end: float) -> str:
    """A stream's `{"type": "prediction", ...}` message (`PredictionMessage`)."""
    return _compact({"type": "prediction", **prediction_fields(prediction), "t_end": t_end})
