"""WebSocket fuzz: malformed frames against the real server, which must answer and stay healthy.

Each fuzz frame is followed by a probe (a samples message for an unknown sensor, which the
server answers with an error frame), so every frame gets a verdict: answered with error
frames (or predictions), or the connection closed with an expected code (1009 for frames
over uvicorn's size limit). A missing answer, a 1011 or an abnormal close is a failure.
Afterwards `/healthz` and `/readyz` must answer 200, a fresh stream of real samples must get
its prediction, and the server must have counted no internal errors.

Run: `python -m bench.fuzz_ws [--quick] [--cases N] [--bundle DIR | --tiny-bundle]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import struct
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bench.machine import load_average
from bench.report import RESULTS_DIR, format_load, markdown_table
from bench.serverproc import ServerProcess, metric_delta, resolve_bundle, scrape, server_errors
from service.settings import Settings

PROBE = json.dumps({"type": "samples", "sensor": "__probe__", "samples": [[0.0, 0.0, 0.0]]})
ANSWER_TIMEOUT_S = 30.0
EXPECTED_CLOSES = {1009: "frame over uvicorn's size limit"}

Frame = str | bytes
OVER_LIMIT_FAMILY = "over ws limit"


@dataclass(frozen=True)
class Case:
    """One fuzz frame and the family it comes from."""

    family: str
    frame: Frame


@dataclass
class Verdict:
    """What the server did with one case."""

    family: str
    outcome: str  # "error frame", "prediction", "closed 1009", or a failure description
    ok: bool


# ----------------------------------------------------------------------------- cases


def _samples(rng: random.Random, rows: int, channels: int = 3) -> list[list[float]]:
    return [[rng.uniform(-20, 20) for _ in range(channels)] for _ in range(rows)]


def _valid(rng: random.Random, sensor: str) -> dict[str, object]:
    return {"type": "samples", "sensor": sensor, "samples": _samples(rng, 5)}


def fixed_cases(sensors: Sequence[str], max_message_bytes: int) -> list[Case]:
    """The catalogue every run sends: one of each kind of malformed frame."""
    s = sensors[0]
    deep = "[" * 100_000 + "]" * 100_000
    row = [1.5, -2.25, 3.125]
    rows_over_limit = max_message_bytes // len(json.dumps(row)) + 10
    head = struct.pack("<BBH", 1, 1, 0)  # a binary frame of one chunk

    def samples(values: object = (row,), **fields: object) -> str:
        values = list(values) if isinstance(values, tuple) else values
        return json.dumps({"type": "samples", "sensor": s, "samples": values, **fields})

    def raw(samples: str, extra: str = "") -> str:  # JSON with tokens json.dumps cannot write
        return f'{{"type": "samples", "sensor": "{s}", "samples": {samples}{extra}}}'

    def chunk(view: int, channels: int, rows: int, rate: float, t0: float) -> bytes:
        return struct.pack("<BBHfd", view, channels, rows, rate, t0)

    cases: list[tuple[str, Frame]] = [
        ("empty", ""),
        ("empty binary", b""),
        ("broken json", '{"type": "samples", "sensor": '),
        ("broken json", "{nope"),
        ("broken json", '{"type": "samples"}}'),
        ("not an object", "[1, 2, 3]"),
        ("not an object", '"samples"'),
        ("not an object", "null"),
        ("wrong types", json.dumps({"type": "samples", "sensor": 5, "samples": [row]})),
        ("wrong types", samples("abc")),
        ("wrong types", samples([[1, 2, "x"]])),
        ("wrong types", samples([1, 2, 3])),
        ("wrong types", samples([[[1, 2, 3]]])),
        ("wrong types", samples(t0="now")),
        ("wrong types", samples(rate_hz=[])),
        ("wrong types", json.dumps({"type": None, "sensor": s, "samples": [row]})),
        ("wrong types", json.dumps({"type": "config", "hop_s": "fast"})),
        ("wrong types", json.dumps({"type": "auth", "token": 12345})),
        ("shapes", samples([])),
        ("shapes", samples([[]])),
        ("shapes", samples([[1, 2, 3, 4]])),
        ("shapes", samples([[1, 2, 3], [1, 2]])),
        ("huge numbers", raw("[[1e309, 0, 0]]")),
        ("huge numbers", raw(f"[[{'9' * 400}, 0, 0]]")),
        ("huge numbers", samples(t0=1e300)),
        ("huge numbers", samples(t0=-1e300)),
        ("huge numbers", samples(rate_hz=1e300)),
        ("huge numbers", samples(rate_hz=1e-300)),
        ("huge numbers", json.dumps({"type": "config", "hop_s": 1e300, "stale_after_s": 1e300})),
        ("NaN", raw("[[NaN, 0, 0]]")),
        ("NaN", raw("[[Infinity, -Infinity, 0]]")),
        ("NaN", samples([["NaN", "nan", "inf"]])),
        ("NaN", raw("[[0, 0, 0]]", ', "t0": NaN')),
        ("NaN", raw("[[0, 0, 0]]", ', "rate_hz": NaN')),
        ("NaN", '{"type": "config", "hop_s": NaN}'),
        ("deep nesting", deep),
        ("deep nesting", raw(deep)),
        ("deep nesting", "{" * 50_000),
        ("unknown", json.dumps({"type": "hello"})),
        ("unknown", json.dumps({"type": "samples", "sensor": "no_such_sensor", "samples": [row]})),
        ("unknown", samples(extra=1)),
        ("late auth", json.dumps({"type": "auth", "token": "x" * 40})),
        ("control", json.dumps({"type": "config"})),
        ("control", json.dumps({"type": "config", "hop_s": 0.0})),
        ("control", json.dumps({"type": "config", "hop_s": -1, "stale_after_s": -1})),
        ("oversized", samples([row] * rows_over_limit)),
        ("binary", b"\x01"),
        ("binary", b"\x01\x01\x00\x00"),
        ("binary", b"\x01\xff\x00\x00"),
        ("binary", b"\x07\x01\x00\x00"),
        ("binary", head + chunk(255, 3, 5, 25.0, 0.0) + bytes(60)),
        ("binary", head + chunk(0, 3, 65535, 25.0, 0.0)),
        ("binary", head + chunk(0, 2, 5, 25.0, 0.0) + bytes(40)),
        ("binary", head + chunk(0, 3, 1, -1.0, 0.0) + bytes(12)),
        ("binary", head + chunk(0, 3, 1, 25.0, math.inf) + bytes(12)),
        ("binary", head + chunk(0, 3, 1, 25.0, 1e300) + bytes(12)),
        ("binary", head + chunk(0, 3, 1, 25.0, 0.0) + b"\xff" * 12),
        ("binary", head + chunk(0, 3, 0, 25.0, 0.0)),
        ("binary", b"\x01\x01\x00\x00" + bytes(15)),
        ("json as bytes", samples("x").encode()),
        # The hostile-client review (issue 13): each must cost bounded work and get an error.
        ("hostile", samples([[0, 0, 0]] * 32_000, t0=0, rate_hz=1)),
        ("hostile", samples([[0, 0, 0]] * 8_000, t0=0, rate_hz=2)),
        ("hostile", samples([row] * 100, rate_hz=4.0)),
        ("hostile", samples([row] * 300, rate_hz=25.0)),  # 12 s: over the chunk span
        ("hostile", samples([[1e308, 1e308, 1e308]] * 100)),
        ("hostile", samples([[3e38, 0, 0]] * 100)),
        ("hostile", json.dumps({"type": "samples", "sensor": "x" * 100_000, "samples": [row]})),
        (OVER_LIMIT_FAMILY, b"\x00" * (4 * max_message_bytes + 1024)),
    ]
    return [Case(family, frame) for family, frame in cases]


def random_cases(rng: random.Random, count: int, sensors: Sequence[str]) -> Iterator[Case]:
    """Random bytes, random text, truncated and mutated valid messages, random binary."""
    valid = json.dumps(_valid(rng, sensors[0]))
    makers: list[tuple[str, Callable[[], Frame]]] = [
        ("random bytes", lambda: rng.randbytes(rng.randint(1, 2000))),
        ("random text", lambda: _random_text(rng)),
        ("truncated", lambda: valid[: rng.randint(0, len(valid) - 1)]),
        ("mutated", lambda: _mutate(rng, valid)),
        ("random binary frame", lambda: b"\x01" + rng.randbytes(rng.randint(0, 400))),
        ("random values", lambda: json.dumps(_random_message(rng, sensors))),
    ]  # fmt: skip
    for _ in range(count):
        family, make = rng.choice(makers)
        yield Case(family, make())


def _random_text(rng: random.Random) -> str:
    return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 500)))


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(chars))
        chars[position] = rng.choice('{}[]",:0123456789-eE.naNIfty \\')
    return "".join(chars)


def _random_value(rng: random.Random, depth: int = 0) -> object:
    choices: list[Callable[[], object]] = [
        lambda: rng.uniform(-1e6, 1e6),
        lambda: rng.choice([0, -1, 1e308, -1e308, 5e-324, 2**63, -(2**64)]),
        lambda: rng.choice(["", "torso", "NaN", "\x00", "ü" * 10]),
        lambda: None,
        lambda: rng.random() < 0.5,
    ]
    if depth < 3:
        choices.append(lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))])
        choices.append(lambda: {"k": _random_value(rng, depth + 1)})
    return rng.choice(choices)()


def _random_message(rng: random.Random, sensors: Sequence[str]) -> dict[str, object]:
    message: dict[str, object] = {"type": rng.choice(["samples", "config", "auth", "x"])}
    for key in ("sensor", "samples", "t0", "rate_hz", "hop_s", "stale_after_s", "token"):
        if rng.random() < 0.6:
            message[key] = _random_value(rng)
    if rng.random() < 0.5:
        message["sensor"] = rng.choice(sensors)
    return message


# ----------------------------------------------------------------------------- driving


class Fuzzer:
    """Sends cases over a stream, reconnecting after an expected close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            self._ws = self._stack.enter_context(
                connect(self.url, max_size=None, open_timeout=30, compression=None)
            )
            ready = json.loads(self._ws.recv(timeout=ANSWER_TIMEOUT_S))
            if ready.get("type") != "ready":
                raise RuntimeError(f"the server did not send ready: {ready}")
        return self._ws

    def close(self) -> None:
        self._stack.close()  # closes the connection, if it is still open
        self._ws = None

    def send(self, case: Case) -> Verdict:
        ws = self._connection()
        replies: Counter[str] = Counter()
        try:
            ws.send(case.frame)
            ws.send(PROBE)
            while True:
                message = json.loads(ws.recv(timeout=ANSWER_TIMEOUT_S))
                kind = message.get("type")
                if kind == "error" and "__probe__" in message.get("detail", ""):
                    break
                if kind == "error" and "Traceback" in message.get("detail", ""):
                    return Verdict(case.family, "error frame with a traceback", False)
                replies[str(kind)] += 1
        except TimeoutError:
            self.close()
            return Verdict(case.family, f"no answer within {ANSWER_TIMEOUT_S:g} s", False)
        except ConnectionClosed as closed:
            self.close()
            code = closed.rcvd.code if closed.rcvd else None
            # A frame over uvicorn's size limit is refused with 1009 and the socket closed;
            # while the client is still writing that frame the close frame can be lost in
            # the reset, so there "no close frame" is the same refusal seen from our side.
            dropped_oversized = code is None and case.family == OVER_LIMIT_FAMILY
            ok = code in EXPECTED_CLOSES or dropped_oversized
            return Verdict(case.family, f"closed {code}", ok)
        if not replies:
            return Verdict(case.family, "accepted silently", True)  # e.g. a valid config
        outcome = ", ".join(f"{k}" for k in sorted(replies))
        return Verdict(case.family, outcome, set(replies) <= {"error", "prediction"})


def healthy_after(server: ServerProcess, sensors: Sequence[str]) -> dict[str, object]:
    """/healthz, /readyz and one real prediction over a fresh stream."""
    status = {}
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(server.base_url + path, timeout=10) as response:
            status[path] = response.status
    rng = random.Random(1)
    with connect(server.ws_url, open_timeout=30) as ws:
        json.loads(ws.recv(timeout=ANSWER_TIMEOUT_S))
        for first in range(0, 125, 5):
            for sensor in sensors:
                message = {"type": "samples", "sensor": sensor, "samples": _samples(rng, 5),
                           "t0": first / 25.0}  # fmt: skip
                ws.send(json.dumps(message))
        prediction = json.loads(ws.recv(timeout=ANSWER_TIMEOUT_S))
    return {**status, "prediction": prediction.get("type"), "t_end": prediction.get("t_end")}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 random cases instead of 400")
    parser.add_argument("--cases", type=int, default=None, help="random cases after the fixed ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--tiny-bundle", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.cases is None:
        args.cases = 60 if args.quick else 400
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    started = time.monotonic()
    max_message_bytes = Settings.model_fields["max_message_bytes"].default
    with tempfile.TemporaryDirectory(prefix="ralis-fuzz-") as work:
        bundle = resolve_bundle(args.bundle, args.tiny_bundle, Path(work))
        with ServerProcess(bundle, log_level="info") as server:
            with urllib.request.urlopen(f"{server.base_url}/v1/model", timeout=10) as response:
                sensors = [v["name"] for v in json.load(response)["views"]]
            before = scrape(server.base_url)
            fuzzer = Fuzzer(server.ws_url)
            cases = [*fixed_cases(sensors, max_message_bytes)]
            cases += random_cases(random.Random(args.seed), args.cases, sensors)
            verdicts = [fuzzer.send(case) for case in cases]
            fuzzer.close()
            health = healthy_after(server, sensors)
            delta = metric_delta(before, scrape(server.base_url))
            alive = server.alive()
            log = server.log_tail(10_000)
    internal, tracebacks = server_errors(delta, log)
    failures = [v for v in verdicts if not v.ok]
    ok = (
        not failures
        and alive
        and internal == 0
        and tracebacks == 0
        and health["/healthz"] == 200
        and health["/readyz"] == 200
        and health["prediction"] == "prediction"
    )

    by_family: dict[str, Counter[str]] = {}
    for verdict in verdicts:
        by_family.setdefault(verdict.family, Counter())[verdict.outcome] += 1
    rows = [
        [family, sum(outcomes.values()), "; ".join(f"{o}: {n}" for o, n in outcomes.most_common()),
         sum(1 for v in verdicts if v.family == family and not v.ok)]
        for family, outcomes in by_family.items()
    ]  # fmt: skip
    name = "fuzz_ws_quick" if args.quick else "fuzz_ws"
    lines = [
        f"### WebSocket fuzz{' (quick)' if args.quick else ''}",
        "",
        f"{len(cases)} frames ({len(cases) - args.cases} fixed, {args.cases} random, seed "
        f"{args.seed}) against `ralis serve`; load average before {format_load(load_before)}, "
        f"after {format_load(load_average())}.",
        "",
        markdown_table(["family", "frames", "server's answers", "failures"], rows),
        "",
        f"After the fuzz: /healthz {health['/healthz']}, /readyz {health['/readyz']}, a fresh "
        f"stream got a {health['prediction']} (t_end {health['t_end']}); internal errors "
        f"counted {internal:.0f}; tracebacks in the server log {tracebacks}; server "
        f"{'alive' if alive else 'DEAD'}.",
        f"Target, every frame answered or closed as expected and the server healthy after: "
        f"{'PASS' if ok else 'FAIL'}",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    payload = {
        "quick": args.quick,
        "seed": args.seed,
        "cases": len(cases),
        "failures": [v.__dict__ for v in failures],
        "by_family": {f: dict(c) for f, c in by_family.items()},
        "health": health,
        "internal_errors": internal,
        "tracebacks_in_log": tracebacks,
        "errors_by_kind": {k: v for k, v in delta.items() if k.startswith("ralis_errors_total")},
        "elapsed_s": time.monotonic() - started,
        "passed": ok,
    }
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown + "\n")
    print(f"\nwrote {out / name}.json", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
