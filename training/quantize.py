"""Int8 copies of a bundle's encoders, calibrated on real training windows.

`python -m training.quantize BUNDLE --data PATH --subjects 1 2 3 4 [--check-subjects 6 7 8]`

Static quantisation with onnxruntime (QDQ format, per-channel int8 weights, uint8 activations
whose ranges are the min and max seen on the calibration windows), on the convolutions and
the projection. The layers that read the raw window stay float: quantising a normalised
accelerometer window to 256 levels over its whole training range erased small signals
(standing in an elevator) and moved the default model's test macro-F1 by up to 1.4 points;
kept float, the int8 model stays within 0.4 points (BENCHMARKS.md section 15).

Writes `<encoder>.int8.onnx` next to each encoder and records the files, their hashes, the
calibration and the agreement with the float encoders on held-out windows in the manifest.
The float encoders stay: `ralis serve` picks by its `precision` setting. Quantising again is
crash-safe: the new files are made and checked aside, and the bundle on disk is at every
moment either the old one, a float-only one or the new one, each passing verification. (A
service starting while the files are swapped may read the old manifest and refuse a replaced
file; restart it, or quantise a copy that nothing serves.)
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ralis.bundle import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    HEAD_INPUTS,
    Int8Calibration,
    Manifest,
    ViewSpec,
    load_manifest,
    sha256_of,
    write_manifest,
    write_text_atomically,
)
from training.config import TrainConfig
from training.data.dataset import MultiViewDataset
from training.data.dsads import VIEW_SETS, ViewSet, dsads_views
from training.pipeline import Split, load_split

logger = logging.getLogger(__name__)

Windows = dict[str, npt.NDArray[np.float32]]  # view name -> normalised (N, C, T)

QUANTISED_OPS = ["Conv", "Gemm"]
METHOD = (
    "onnxruntime static quantisation, QDQ, per-channel int8 weights, uint8 activations "
    "(MinMax ranges), Conv and Gemm; the layers reading the raw window stay float"
)
CALIBRATION_BATCH = 64
CARD_NAME = "MODEL_CARD.md"
INT8_HEADING = "## Int8 encoders"
STAGING_PREFIX = ".int8-"  # a folder inside the bundle, so that os.replace stays one rename


def int8_file_name(encoder_file: str) -> str:
    """`encoder_torso.onnx` -> `encoder_torso.int8.onnx`."""
    return f"{Path(encoder_file).stem}.int8.onnx"


def _view_set(manifest: Manifest) -> ViewSet:
    """The DSADS view set whose views are the bundle's (ignored for other datasets)."""
    wanted = [(v.name, tuple(v.channels)) for v in manifest.views]
    for view_set in VIEW_SETS:
        if [(info.name, info.channels) for info, _ in dsads_views(view_set)] == wanted:
            return view_set
    return "acc"


def load_windows(
    manifest: Manifest,
    data: str,
    split: Split,
    subjects: Sequence[int],
    max_windows: int | None = None,
    seed: int = 0,
    complete_only: bool = False,
) -> Windows:
    """Real windows of `subjects` from `data` (as `ralis train --data` reads it) at the
    bundle's window length, normalised as the service does, channel-major; at most
    `max_windows` per view, drawn at random. `complete_only`: only windows that have every
    view, the same rows in each (for parity checks).

    Raises:
        SystemExit: the data lacks one of the bundle's views.
    """
    config = TrainConfig(
        data=data,
        view_set=_view_set(manifest),
        window_seconds=manifest.window_seconds,
        train_subjects=tuple(subjects) if split == "train" else (),
        val_subjects=(),
        test_subjects=tuple(subjects) if split == "test" else (),
    )
    dataset = load_split(config, split)
    if complete_only:
        dataset = dataset.subset(np.flatnonzero(dataset.mask.all(axis=1)))
    return normalised_windows(manifest, dataset, max_windows, seed)


def normalised_windows(
    manifest: Manifest, dataset: MultiViewDataset, max_windows: int | None, seed: int
) -> Windows:
    """Each view's present windows, normalised with the manifest's statistics, (N, C, T)."""
    missing = [name for name in manifest.view_names if name not in dataset.view_names]
    if missing:
        raise SystemExit(f"the data has no views {missing} (it has {dataset.view_names})")
    rng = np.random.default_rng(seed)
    windows: Windows = {}
    for view in manifest.views:
        info = dataset.views[dataset.view_names.index(view.name)]
        if tuple(info.channels) != tuple(view.channels):
            raise SystemExit(
                f"view {view.name!r}: the data has channels {list(info.channels)}, the bundle "
                f"{view.channels}"
            )
        present = dataset.mask[:, dataset.view_names.index(view.name)]
        raw = dataset.x[view.name][present]
        if max_windows is not None and len(raw) > max_windows:
            raw = raw[np.sort(rng.choice(len(raw), max_windows, replace=False))]
        scaled = (raw - np.asarray(view.norm_mean)) / np.asarray(view.norm_std)
        windows[view.name] = np.ascontiguousarray(scaled.transpose(0, 2, 1), dtype=np.float32)
    return windows


class _Batches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no types
    """Calibration windows in fixed-size batches, as onnxruntime's calibrator reads them."""

    def __init__(self, windows: npt.NDArray[np.float32]) -> None:
        starts = range(0, len(windows), CALIBRATION_BATCH)
        self._batches = iter([windows[i : i + CALIBRATION_BATCH] for i in starts])

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        batch = next(self._batches, None)
        return None if batch is None else {ENCODER_INPUT: batch}


def _nodes_reading_input(model_path: Path) -> list[str]:
    model = onnx.load(str(model_path))
    return [node.name for node in model.graph.node if ENCODER_INPUT in node.input]


def quantize_encoder(source: Path, target: Path, windows: npt.NDArray[np.float32]) -> None:
    """Write `source`'s int8 copy to `target`, calibrated on `windows` (N, C, T)."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # The exported graph's shapes are complete; onnxruntime's symbolic pass fails on
        # its symbolic batch dimension and adds nothing here.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            _Batches(windows),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=QUANTISED_OPS,
            nodes_to_exclude=_nodes_reading_input(prepared),
        )


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _embed(
    bundle: Path, manifest: Manifest, windows: Windows, int8_dir: Path | None
) -> npt.NDArray[np.float32]:
    """Every view's embeddings (N, V, D); float encoders, or int8 ones read from `int8_dir`."""
    sessions: dict[str, ort.InferenceSession] = {}
    columns = []
    for view in manifest.views:
        file = manifest.encoder_file(view, "fp32" if int8_dir is None else "int8")
        folder = bundle if int8_dir is None else int8_dir
        if file not in sessions:
            sessions[file] = _session(folder / file)
        session = sessions[file]
        columns.append(session.run([ENCODER_OUTPUT], {ENCODER_INPUT: windows[view.name]})[0])
    return np.stack(columns, axis=1)


def int8_parity(
    bundle: Path, manifest: Manifest, windows: Windows, int8_dir: Path | None = None
) -> dict[str, float]:
    """How the int8 encoders' predictions follow the float ones (same head, same windows):
    top-class agreement and the largest probability difference, with all views and with
    each view alone (the mean over views). The int8 files are read from `int8_dir`
    (default: the bundle)."""
    counts = {len(w) for w in windows.values()}
    if len(counts) != 1:
        raise ValueError("parity needs the same windows for every view")
    rows = counts.pop()
    int8_dir = int8_dir or bundle
    head = _session(bundle / manifest.head_file)
    embeddings = {
        precision: _embed(bundle, manifest, windows, None if precision == "fp32" else int8_dir)
        for precision in ("fp32", "int8")
    }
    num_views = len(manifest.views)

    def probabilities(precision: str, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        feeds = {HEAD_INPUTS[0]: embeddings[precision], HEAD_INPUTS[1]: mask}
        return np.asarray(head.run(["probabilities"], feeds)[0])

    def compare(mask: npt.NDArray[np.bool_]) -> tuple[float, float]:
        reference, quantised = probabilities("fp32", mask), probabilities("int8", mask)
        agreement = float((reference.argmax(1) == quantised.argmax(1)).mean())
        return agreement, float(np.abs(reference - quantised).max())

    all_agree, all_diff = compare(np.ones((rows, num_views), dtype=bool))
    single = [compare(np.eye(num_views, dtype=bool)[[v] * rows]) for v in range(num_views)]
    return {
        "argmax_agreement_all_views": all_agree,
        "max_probability_diff_all_views": all_diff,
        "argmax_agreement_single_view_mean": float(np.mean([a for a, _ in single])),
        "max_probability_diff_single_view": float(max(d for _, d in single)),
        "windows": float(rows),
    }


def quantize_bundle(
    bundle: Path,
    calibration: Windows,
    calibration_data: str,
    check: Windows | None = None,
    check_data: str = "",
) -> Manifest:
    """Add int8 encoders to `bundle` (replacing earlier ones) and return the new manifest.

    Args:
        calibration: normalised windows per view that set the activation ranges.
        calibration_data: where they came from, in words, for the manifest.
        check: held-out windows (the same rows for every view) for the parity record.
        check_data: where they came from, in words.
    """
    manifest = load_manifest(bundle, verify=True)
    float_only = _without_int8(manifest)
    for leftover in bundle.glob(f"{STAGING_PREFIX}*"):  # from a run that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=bundle, prefix=STAGING_PREFIX) as scratch:
        staged = Path(scratch)
        views: list[ViewSpec] = []
        hashes = dict(float_only.sha256)
        written: dict[str, str] = {}  # float file -> int8 file
        for view in manifest.views:
            if view.encoder_file not in written:
                # Views sharing an encoder calibrate it together: its ranges must fit them all.
                sharing = [v.name for v in manifest.views if v.encoder_file == view.encoder_file]
                windows = np.concatenate([calibration[name] for name in sharing])
                target = int8_file_name(view.encoder_file)
                logger.info("quantising %s on %d windows", view.encoder_file, len(windows))
                quantize_encoder(bundle / view.encoder_file, staged / target, windows)
                written[view.encoder_file] = target
                hashes[target] = sha256_of(staged / target)
            views.append(view.model_copy(update={"encoder_file_int8": written[view.encoder_file]}))
        record = Int8Calibration(
            method=METHOD,
            calibration_data=calibration_data,
            calibration_windows=max(len(w) for w in calibration.values()),
        )
        if check is not None:
            parity = int8_parity(
                bundle, _with_int8(float_only, views, hashes, record), check, staged
            )
            record = record.model_copy(update={"parity": parity, "parity_data": check_data})
            logger.info(
                "int8 parity on %d held-out windows: %s", len(next(iter(check.values()))), parity
            )
        updated = _with_int8(float_only, views, hashes, record)
        # Commit: float-only first, so no manifest on disk ever names an int8 file whose
        # bytes are being replaced; a crash midway leaves a bundle that serves in fp32.
        if manifest.has_int8:
            write_manifest(bundle, float_only)
        for target in written.values():
            _sync_file(staged / target)  # the bytes must be on disk before a manifest names them
            os.replace(staged / target, bundle / target)
        write_manifest(bundle, updated)
    card = bundle / CARD_NAME
    if card.is_file():
        write_text_atomically(card, with_int8_section(card.read_text(), record))
    return updated


def _sync_file(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _without_int8(manifest: Manifest) -> Manifest:
    """`manifest` as a float-only bundle's: no int8 files, hashes or record."""
    int8_files = {v.encoder_file_int8 for v in manifest.views}
    return Manifest.model_validate(
        manifest.model_dump()
        | {
            "views": [v.model_copy(update={"encoder_file_int8": None}) for v in manifest.views],
            "sha256": {k: v for k, v in manifest.sha256.items() if k not in int8_files},
            "int8": None,
        }
    )


def _with_int8(
    float_only: Manifest, views: list[ViewSpec], hashes: dict[str, str], record: Int8Calibration
) -> Manifest:
    return Manifest.model_validate(
        float_only.model_dump() | {"views": views, "sha256": hashes, "int8": record}
    )


def int8_card_section(record: Int8Calibration) -> str:
    """The model card's account of the int8 encoders, from the manifest's record."""
    lines = [
        INT8_HEADING,
        "`ralis serve` uses these on CPU by default (`RALIS_PRECISION=fp32` for the float ones).",
        f"- Made by: {record.method}.",
        f"- Calibrated on {record.calibration_windows} windows per view: "
        f"{record.calibration_data}.",
    ]
    parity = record.parity
    if parity:
        lines.append(
            f"- Against the float encoders on {parity['windows']:.0f} held-out windows "
            f"({record.parity_data}): "
            f"top class agreement {100 * parity['argmax_agreement_all_views']:.2f}% with all "
            f"views, {100 * parity['argmax_agreement_single_view_mean']:.2f}% per single view "
            f"(mean); largest probability difference "
            f"{parity['max_probability_diff_all_views']:.3f} (all views), "
            f"{parity['max_probability_diff_single_view']:.3f} (single views)."
        )
    return "\n".join(lines) + "\n"


def with_int8_section(card: str, record: Int8Calibration) -> str:
    """`card` with its int8 section (re)written at the end."""
    kept = card.split(INT8_HEADING, 1)[0].rstrip("\n")
    return f"{kept}\n\n{int8_card_section(record)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--data", required=True, help="the training data, as for ralis train")
    parser.add_argument(
        "--subjects", type=int, nargs="+", required=True, help="subjects to calibrate on"
    )
    parser.add_argument("--max-windows", type=int, default=2048, help="per view, at random")
    parser.add_argument(
        "--check-subjects",
        type=int,
        nargs="*",
        default=[],
        help="held-out subjects whose windows measure the agreement with the float encoders",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    manifest = load_manifest(args.bundle, verify=True)
    calibration = load_windows(
        manifest, args.data, "train", args.subjects, args.max_windows, args.seed
    )
    check = None
    if args.check_subjects:
        check = load_windows(manifest, args.data, "test", args.check_subjects, complete_only=True)

    def described(subjects: Sequence[int]) -> str:
        listed = ", ".join(str(s) for s in subjects)
        return f"{Path(args.data).name}, subjects {listed}, {manifest.window_seconds:g} s windows"

    updated = quantize_bundle(
        args.bundle,
        calibration,
        described(args.subjects),
        check,
        described(args.check_subjects) + " with every view",
    )
    logger.info("int8 encoders written to %s: %s", args.bundle, updated.int8)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
