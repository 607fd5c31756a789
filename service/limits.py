"""HTTP body limits sized to the model's real windows, not a fixed number of megabytes.

A request's size follows from the model: one window of every view, `window_samples` rows of
`channels` numbers each. A JSON number as clients write it takes at most about 24 bytes
("-12.345678901234567", a comma, a space), a row adds its brackets. The largest valid
prediction request is every view's window at `body_rate_margin` times the model's rate
(streams and devices that sample faster are resampled); a batch is `max_batch_windows` such
windows at the model's own rate. For the default model (5 sensors, 100 x 3 samples) that is
about 168 KB for `/v1/predict` and 2.4 MB for `/v1/predict/batch`, where a real window is
about 31 KB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ralis.bundle import ViewSpec
from service.settings import Settings

JSON_BYTES_PER_NUMBER = 24
JSON_BYTES_PER_ROW = 4  # "[", "]", ", "
# Keys, sensor names, rates and whitespace around the windows.
JSON_OVERHEAD_BYTES = 16 * 1024
BATCH_PATH = "/v1/predict/batch"


@dataclass(frozen=True)
class BodyLimits:
    """Largest accepted request body (bytes) for the batch route and for every other route."""

    single: int
    batch: int

    def for_path(self, path: str) -> int:
        return self.batch if path == BATCH_PATH else self.single


def window_json_bytes(views: list[ViewSpec], rate_factor: float) -> int:
    """Bytes of one JSON window of every view at `rate_factor` times the model's rates."""
    total = 0
    for view in views:
        rows = math.ceil(view.window_samples * rate_factor)
        total += rows * (len(view.channels) * JSON_BYTES_PER_NUMBER + JSON_BYTES_PER_ROW)
    return total


def body_limits(views: list[ViewSpec], settings: Settings) -> BodyLimits:
    """The settings' limits where given, else the ones derived from the model (module doc)."""
    single = settings.max_body_bytes or (
        window_json_bytes(views, settings.body_rate_margin) + JSON_OVERHEAD_BYTES
    )
    batch = settings.max_batch_body_bytes or (
        settings.max_batch_windows * window_json_bytes(views, 1.0) + JSON_OVERHEAD_BYTES
    )
    return BodyLimits(single=single, batch=max(batch, single))
