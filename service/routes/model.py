"""The served model's description."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ApiKeyDep, PredictorDep
from service.schemas import ModelInfo, ViewInfo

router = APIRouter(prefix="/v1", tags=["model"], dependencies=[ApiKeyDep])


@router.get("/model", response_model=ModelInfo, summary="Classes, window and sensors")
def model_info(predictor: PredictorDep) -> ModelInfo:
    """Name, version, classes, window length and every sensor the model accepts."""
    manifest = predictor.manifest
    return ModelInfo(
        name=manifest.model_name,
        version=manifest.model_version,
        classes=manifest.classes,
        window_seconds=manifest.window_seconds,
        views=[
            ViewInfo(
                name=v.name,
                modality=v.modality,
                channels=v.channels,
                sampling_rate_hz=v.sampling_rate_hz,
                window_samples=v.window_samples,
            )
            for v in manifest.views
        ],
        execution_provider=predictor.runtime.provider,
        precision=predictor.runtime.precision,
        created_at=manifest.created_at,
        training_data=manifest.training_data,
        metrics=manifest.metrics,
    )
