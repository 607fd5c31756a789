"""The client's typed results mirror the server's response schemas field for field (the client
cannot import the server, so this test is what keeps the two in step)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from ralis.client.types import ModelInfo, Prediction, ViewInfo
from service import schemas


@pytest.mark.parametrize(
    ("client_type", "server_model"),
    [
        (ModelInfo, schemas.ModelInfo),
        (ViewInfo, schemas.ViewInfo),
        (Prediction, schemas.PredictionMessage),
    ],
)
def test_client_types_have_the_server_fields(
    client_type: type, server_model: type[BaseModel]
) -> None:
    client_fields = {f.name for f in dataclasses.fields(client_type)}
    server_fields = set(server_model.model_fields) - {"type"}
    assert client_fields == server_fields


def test_a_stream_prediction_parses_with_its_t_end() -> None:
    message = schemas.PredictionMessage(
        t_end=5.0, activity="a", probabilities={"a": 0.75, "b": 0.25}, view_weights={"x": 1.0},
        views_used=["x"], model_version="1", latency_ms=1.5,
    )  # fmt: skip
    prediction = Prediction.from_json(message.model_dump())
    assert prediction.t_end == 5.0 and prediction.probability == 0.75
