"""Per-subject all-sensor macro-F1 and most frequent confusions of bundles, through the service.

From the project root: `PYTHONPATH=. python results/dsads/default_model_steps/per_subject.py
service/default_bundle build/bundle_v4` (build/bundle_v4: the release command in this
folder's README). Starts `ralis serve` on each bundle with float encoders and sends every
back-to-back 4 s window of p6, p7 and p8 with all five sensors, as `bench.served_accuracy`
does.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from bench.served_accuracy import DEFAULT_DATA, load_windows, predict_subset
from bench.serverproc import ServerProcess
from bench.service_load import model_info
from ralis.client import RalisClient
from training.metrics import macro_f1

TEST_SUBJECTS = (6, 7, 8)


def main(bundles: list[str]) -> None:
    print("| bundle | subject | macro-F1 (%) | top confusions (true -> predicted: windows) |")
    print("|---|---|---|---|")
    for bundle in bundles:
        env = {"RALIS_MAX_STREAMS_PER_CLIENT": "0", "RALIS_PRECISION": "fp32"}
        with ServerProcess(Path(bundle), env) as server:
            info = model_info(server.base_url)
            classes = list(info["classes"])
            sensors = tuple(view["name"] for view in info["views"])
            with RalisClient(server.base_url, timeout=120.0) as client:
                for subject in TEST_SUBJECTS:
                    windows, labels = load_windows(DEFAULT_DATA, [subject], info)
                    predicted = predict_subset(client, windows, sensors, classes)
                    score = 100 * macro_f1(labels, predicted, len(classes))
                    wrong = Counter(
                        f"{classes[t]} -> {classes[p]}"
                        for t, p in zip(labels, predicted, strict=True)
                        if t != p
                    )
                    top = "; ".join(f"{pair}: {n}" for pair, n in wrong.most_common(3))
                    print(f"| {bundle} | p{subject} | {score:.2f} | {top} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
