"""Where the event loop's samples go, from py-spy's collapsed stacks (`profile.sh`).

Run: `python bench/results/event_loop_profile_2026-12-03/summarise.py PROFILE.raw[.gz]`.
Each main-thread sample goes to the first category whose frame is on its stack; samples whose
innermost Python frame is the loop itself ran in uvloop's C code (sockets, epoll, callbacks).
"""

from __future__ import annotations

import collections
import gzip
import sys
from pathlib import Path

CATEGORIES = (
    ("_apply (service/session.py", "parse the frame, check and append its chunks (`_apply`)"),
    ("SampleTimeline.append", "  of it: check and append the chunks (`SampleTimeline.append`)"),
    ("_predict_and_send", "hand the windows to the batcher, send the predictions"),
    ("StreamSession._next", "wait for the next frame (FrameWait, ASGI receive)"),
    ("data_received", "WebSocket protocol: frame parsing (websockets, uvicorn)"),
    ("run_asgi", "ASGI / FastAPI stack, other"),
)
LOOP_NATIVE = "uvloop's C code (sockets, epoll, callbacks)"


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as file:
        stacks = []
        for line in file:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            stacks.append((stack.split(";"), int(count)))
    return stacks


def main() -> None:
    stacks = read_stacks(Path(sys.argv[1]))
    threads: collections.Counter[str] = collections.Counter()
    shares: collections.Counter[str] = collections.Counter()
    main_total = 0
    for frames, count in stacks:
        thread = frames[0].split(": ", 1)[-1]
        threads[thread] += count
        if thread != "MainThread":
            continue
        main_total += count
        joined = ";".join(frames)
        if "SampleTimeline.append" in joined:
            shares[CATEGORIES[1][1]] += count
        for key, name in (c for c in CATEGORIES if c[0] != "SampleTimeline.append"):
            if key in joined:
                shares[name] += count
                break
        else:
            shares[LOOP_NATIVE if frames[-1].startswith("Runner.run") else "other"] += count
    print("| thread | samples |")
    print("|---|---|")
    for thread, count in threads.most_common():
        print(f"| {thread} | {count} |")
    print()
    print(f"Event loop (MainThread), {main_total} samples:")
    print()
    print("| where | samples | share |")
    print("|---|---|---|")
    top = [name for _, name in CATEGORIES if not name.startswith("  ")] + [LOOP_NATIVE, "other"]
    for name in sorted(top, key=lambda n: -shares[n]):
        rows = [name, CATEGORIES[1][1]] if name == CATEGORIES[0][1] else [name]
        for row in rows:
            if shares[row]:
                print(f"| {row} | {shares[row]} | {100 * shares[row] / main_total:.1f}% |")
    inside_apply(stacks, main_total)


def inside_apply(stacks: list[tuple[list[str], int]], total: int) -> None:
    """The functions under `session._apply` (inclusive) and its costliest source lines."""
    functions: collections.Counter[str] = collections.Counter()
    lines: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        if not frames[0].endswith("MainThread"):
            continue
        starts = [i for i, f in enumerate(frames) if f.startswith("_apply (service/session.py")]
        if not starts:
            continue
        below = frames[starts[0] + 1 :]
        for name in {f.split(" (")[0] for f in below}:
            functions[name] += count
        lines[frames[-1]] += count
    print()
    print("Inside `_apply` (share of the event loop's samples):")
    print()
    print("| function (inclusive) | share |")
    print("|---|---|")
    for name, count in functions.most_common(8):
        print(f"| {name} | {100 * count / total:.1f}% |")
    print()
    print("| innermost line | share |")
    print("|---|---|")
    for name, count in lines.most_common(5):
        print(f"| {name} | {100 * count / total:.1f}% |")


if __name__ == "__main__":
    main()
