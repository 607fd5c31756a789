"""Regenerate `recording.json`, the real DSADS recording the live page (`/ui`) replays.

Run from the repo root: `python service/ui/make_recording.py [DSADS_ZIP_OR_FOLDER]`.
One test subject (p7, never seen in training), six activities, 10 s of each taken 60 s into
its 5-minute recording, the five body-worn accelerometers (x, y, z in m/s^2, 25 Hz) rounded
to 0.01 m/s^2: one minute of data in about 140 kB of JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ralis.client.dsads import ACTIVITIES, POSITIONS, RATE_HZ, read_recording

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "datasets" / "dsads" / "daily_sports_activities.zip"
SUBJECT = 7
# DSADS activity numbers (a01..a19): sitting, ascending stairs, walking in a parking lot,
# running on a treadmill, rowing, jumping: still, stepping, walking, fast, seated, bouncing.
ACTIVITY_NUMBERS = (1, 5, 9, 12, 17, 18)
START_SECONDS = 60.0
SECONDS_EACH = 10.0
ACC_COLUMNS = (0, 1, 2)  # x_acc, y_acc, z_acc inside each unit's 9-column block
ATTRIBUTION = (
    "B. Barshan and K. Altun (2010), Daily and Sports Activities, UCI Machine Learning "
    "Repository, https://doi.org/10.24432/C5C59F, CC BY 4.0; K. Altun, B. Barshan, O. Tuncel, "
    "Pattern Recognition 43(10):3605-3620, 2010. Excerpt: subject p7, accelerometers only, "
    "values rounded to 0.01 m/s^2."
)


def build(source: Path) -> dict[str, Any]:
    """The recording as a JSON-ready dict: segments (activity, start) and samples per sensor."""
    first = int(START_SECONDS * RATE_HZ)
    rows = int(SECONDS_EACH * RATE_HZ)
    parts: list[np.ndarray] = []
    segments: list[dict[str, Any]] = []
    for number in ACTIVITY_NUMBERS:
        recording = read_recording(source, number, SUBJECT)  # (7500, 45)
        parts.append(recording[first : first + rows])
        segments.append(
            {
                "activity": ACTIVITIES[number - 1],
                "start_s": len(segments) * SECONDS_EACH,
                "source": f"a{number:02d}/p{SUBJECT}, {START_SECONDS:g}-"
                f"{START_SECONDS + SECONDS_EACH:g} s",
            }
        )
    data = np.concatenate(parts)  # (samples, 45)
    samples = {}
    for unit, position in enumerate(POSITIONS):
        columns = [9 * unit + c for c in ACC_COLUMNS]
        samples[position] = np.round(data[:, columns], 2).tolist()
    return {
        "attribution": ATTRIBUTION,
        "license": "CC BY 4.0",
        "subject": SUBJECT,
        "rate_hz": RATE_HZ,
        "unit": "m/s^2",
        "channels": ["acc_x", "acc_y", "acc_z"],
        "duration_s": len(data) / RATE_HZ,
        "segments": segments,
        "samples": samples,
    }


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    recording = build(source)
    out = HERE / "recording.json"
    out.write_text(json.dumps(recording, separators=(",", ":")) + "\n")
    sys.stdout.write(f"{recording['duration_s']:g} s, {out.stat().st_size} bytes -> {out}\n")


if __name__ == "__main__":
    main()
