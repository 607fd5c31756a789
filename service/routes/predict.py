"""Predictions from sensor windows."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.deps import ApiKeyDep, PredictorDep, StateDep
from service.errors import InputError
from service.fastjson import FastJSONRoute
from service.responses import batch_json, prediction_json
from service.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
)

JSON = "application/json"

router = APIRouter(
    route_class=FastJSONRoute,
    prefix="/v1",
    tags=["predict"],
    dependencies=[ApiKeyDep],
    responses={
        400: {"model": ErrorResponse, "description": "Body is not UTF-8 text"},
        401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
        413: {"model": ErrorResponse, "description": "Request body too large for the model"},
        415: {"model": ErrorResponse, "description": "Body is not application/json"},
        422: {
            "model": ErrorResponse,
            "description": "Unusable sensors or windows (shape, "
            "non-finite or out-of-range values, rate, unknown sensor)",
        },
        503: {"model": ErrorResponse, "description": "Not ready or overloaded"},
    },
)


@router.post("/predict", response_model=PredictResponse, summary="Predict from sensor windows")
async def predict(request: PredictRequest, predictor: PredictorDep) -> Response:
    """Activity from a window of each sensor present; only those sensors' encoders run."""
    prediction = await predictor.predict(request.sensors, request.sampling_rate_hz)
    return Response(prediction_json(prediction), media_type=JSON)


@router.post(
    "/predict/batch", response_model=BatchPredictResponse, summary="Predict several windows"
)
async def predict_batch(
    request: BatchPredictRequest, predictor: PredictorDep, state: StateDep
) -> Response:
    """Independent predictions, in order; they share encoder batches."""
    limit = state.settings.max_batch_windows
    count = len(request.windows)
    if not 1 <= count <= limit:
        raise InputError(
            "too_many_windows" if count else "empty_sensors",
            f"got {count} windows; send between 1 and {limit}",
        )
    predictions = await predictor.predict_many(
        [(w.sensors, w.sampling_rate_hz) for w in request.windows]
    )
    return Response(batch_json(predictions), media_type=JSON)
