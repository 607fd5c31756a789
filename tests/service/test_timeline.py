"""Stream timeline logic, without a server."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ralis.bundle import ViewSpec
from service.errors import InputError
from service.timeline import DueWindow, SampleTimeline, StreamLimits

RATE = 25.0
T = 100  # 4 s windows
NAMES = ("torso", "left_leg", "right_leg")
VIEWS = [
    ViewSpec(
        name=name,
        modality="acc",
        channels=["x", "y", "z"],
        sampling_rate_hz=RATE,
        window_samples=T,
        norm_mean=[0.0, 0.0, 0.0],
        norm_std=[1.0, 1.0, 1.0],
        encoder_file="e.onnx",
    )
    for name in NAMES
]


def make_state(
    hop_s: float = 1.0, stale_after_s: float = 1.0, limits: StreamLimits | None = None
) -> SampleTimeline:
    return SampleTimeline(
        VIEWS,
        hop_s=hop_s,
        stale_after_s=stale_after_s,
        min_window_fraction=0.9,
        limits=limits or StreamLimits(max_windows_per_message=1000),
    )


def recording(seconds: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=(int(seconds * RATE), 3)) for name in NAMES}


def feed(
    state: SampleTimeline,
    data: dict[str, np.ndarray],
    chunk: int,
    with_t0: bool = True,
    offset_s: float = 0.0,
) -> list[DueWindow]:
    """Interleave the sensors chunk by chunk, as live sensors would arrive."""
    due: list[DueWindow] = []
    n = next(iter(data.values())).shape[0]
    for first in range(0, n, chunk):
        for name, samples in data.items():
            t0 = offset_s + first / RATE if with_t0 else None
            due += state.add(name, samples[first : first + chunk], t0=t0)
    return due


def test_windows_every_hop_hold_the_raw_samples() -> None:
    data = recording(10.0)
    due = feed(make_state(), data, chunk=5)
    assert [w.t_end for w in due] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    for window in due:
        assert list(window.windows) == list(NAMES)
        last = round(window.t_end * RATE)
        for name in NAMES:
            np.testing.assert_allclose(
                window.windows[name], data[name][last - T : last], rtol=0, atol=1e-12
            )


def test_chunking_and_t0_do_not_change_the_windows() -> None:
    # Chunks up to stale_after_s (1 s) long, sensors interleaved as live ones would be.
    data = recording(8.0)
    reference = feed(make_state(), data, chunk=5)
    for chunk, with_t0 in [(1, True), (7, True), (25, False), (25, True)]:
        other = feed(make_state(), data, chunk=chunk, with_t0=with_t0)
        assert [w.t_end for w in other] == [w.t_end for w in reference]
        for a, b in zip(other, reference, strict=True):
            for name in NAMES:
                np.testing.assert_allclose(a.windows[name], b.windows[name], atol=1e-12)


def test_one_big_chunk_of_a_single_sensor_equals_small_chunks() -> None:
    data = {"torso": recording(8.0)["torso"]}
    small = feed(make_state(), data, chunk=5)
    big = feed(make_state(), data, chunk=200)
    assert [w.t_end for w in big] == [w.t_end for w in small] == [4.0, 5.0, 6.0, 7.0, 8.0]
    for a, b in zip(big, small, strict=True):
        np.testing.assert_allclose(a.windows["torso"], b.windows["torso"], atol=1e-12)


def test_a_lagging_sensor_is_waited_for() -> None:
    state = make_state()
    data = recording(5.0)
    for name in NAMES:
        assert state.add(name, data[name][:75], t0=0.0) == []
    # torso and left_leg reach 4 s; right_leg is 0.4 s behind (less than stale_after_s).
    assert state.add("torso", data["torso"][75:100]) == []
    assert state.add("left_leg", data["left_leg"][75:100]) == []
    assert state.add("right_leg", data["right_leg"][75:90]) == []
    due = state.add("right_leg", data["right_leg"][90:100])
    assert [w.t_end for w in due] == [4.0]
    assert list(due[0].windows) == list(NAMES)


def test_waiting_ends_when_another_sensor_is_stale_after_s_ahead() -> None:
    state = make_state(stale_after_s=1.0)
    data = recording(6.0)
    state.add("left_leg", data["left_leg"][:95], t0=0.0)  # stops 0.2 s short of 4 s
    assert state.add("torso", data["torso"][:120], t0=0.0) == []  # 4.8 s: still waiting
    due = state.add("torso", data["torso"][120:125])  # 5.0 s = 4.0 + stale_after_s
    assert [w.t_end for w in due] == [4.0, 5.0]
    assert list(due[0].windows) == ["torso", "left_leg"]  # 3.8 of 4 s: kept, edge-padded
    assert list(due[1].windows) == ["torso"]  # left_leg silent for 1.2 s: stale
    np.testing.assert_allclose(due[0].windows["left_leg"][-5:], data["left_leg"][[94] * 5])


def test_a_silent_sensor_goes_stale_and_is_left_out() -> None:
    state = make_state(stale_after_s=1.0)
    data = recording(10.0)
    due = feed(state, {"torso": data["torso"][:100], "right_leg": data["right_leg"][:100]}, 5)
    assert [list(w.windows) for w in due] == [["torso", "right_leg"]]
    due = feed(state, {"torso": data["torso"][100:]}, 5, offset_s=4.0)  # right_leg stopped
    # 5.0: right_leg covers 3 of 4 s (< 0.9) and is 1 s old; afterwards it is stale.
    assert [w.t_end for w in due] == [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert all(list(w.windows) == ["torso"] for w in due)


def test_a_sensor_that_comes_back_joins_once_it_covers_a_window() -> None:
    state = make_state()
    data = recording(20.0)
    due: list[DueWindow] = []
    for first in range(0, 500, 5):
        due += state.add("torso", data["torso"][first : first + 5], t0=first / RATE)
        if first < 100 or first >= 250:  # left_leg off between 4 s and 10 s
            due += state.add("left_leg", data["left_leg"][first : first + 5], t0=first / RATE)
    used = {w.t_end: list(w.windows) for w in due}
    assert used[4.0] == ["torso", "left_leg"]
    assert all(used[t] == ["torso"] for t in (6.0, 8.0, 10.0, 13.0))
    assert used[14.0] == ["torso", "left_leg"]  # 10 s + 4 s: a full window again
    np.testing.assert_allclose(due[-1].windows["left_leg"], data["left_leg"][400:500])


def test_window_after_a_gap_is_padded_not_interpolated_across_it() -> None:
    state = make_state()
    data = recording(20.0)
    state.add("torso", data["torso"][:100], t0=0.0)
    # Resume at 10.0 s; the window ending at 13.6 s would be only 3.6 s of new data, but
    # windows end on whole hops: 14.0 s is the first that covers 4 s of new data.
    due = state.add("torso", data["torso"][250:350], t0=10.0)
    assert [w.t_end for w in due] == [14.0]
    np.testing.assert_allclose(due[0].windows["torso"], data["torso"][250:350], atol=1e-12)


def test_partial_window_after_gap_is_edge_padded() -> None:
    state = make_state(hop_s=0.2)
    data = recording(20.0)
    state.add("torso", data["torso"][:100], t0=0.0)
    due = state.add("torso", data["torso"][250:340], t0=10.0)  # 3.6 s after the gap
    # 4.2 and 4.4 cover 3.8 and 3.6 s of the data before the gap (edge-padded at their end).
    assert [w.t_end for w in due] == pytest.approx([4.2, 4.4, 13.6])
    window = due[-1].windows["torso"]
    np.testing.assert_allclose(window[10:], data["torso"][250:340], atol=1e-9)
    np.testing.assert_allclose(window[:10], np.repeat(data["torso"][250:251], 10, axis=0))


def test_hop_can_change_mid_stream() -> None:
    state = make_state()
    data = recording(8.0)
    due = state.add("torso", data["torso"][:125], t0=0.0)
    assert [w.t_end for w in due] == [4.0, 5.0]
    state.set_hop(0.5)
    due = state.add("torso", data["torso"][125:200])
    assert [w.t_end for w in due] == [5.5, 6.0, 6.5, 7.0, 7.5, 8.0]


def test_other_rates_are_resampled_onto_the_model_grid() -> None:
    state = make_state()
    t = np.arange(250) / 50.0  # 5 s at 50 Hz
    samples = np.stack([t, 2 * t, 3 * t], axis=1)
    due = state.add("torso", samples, t0=0.0, rate_hz=50.0)
    assert [w.t_end for w in due] == [4.0, 5.0]
    grid = np.arange(100) / 25.0
    np.testing.assert_allclose(due[0].windows["torso"][:, 2], 3 * grid, atol=1e-9)


def test_epoch_timestamps_and_big_jumps_are_cheap() -> None:
    state = make_state()
    data = recording(5.0)
    start = time.perf_counter()
    due = state.add("torso", data["torso"], t0=1.7e9)
    due += state.add("torso", data["torso"], t0=1.7e9 + 1e6)
    assert time.perf_counter() - start < 0.5
    assert [w.t_end for w in due] == pytest.approx(
        [1.7e9 + 4.0, 1.7e9 + 5.0, 1.7e9 + 1e6 + 4.0, 1.7e9 + 1e6 + 5.0], abs=1e-6
    )


@pytest.mark.parametrize(
    ("call", "kind", "message"),
    [
        (lambda s: s.add("leftleg", [[0.0, 0.0, 0.0]]), "unknown_sensor", "known: torso"),
        (lambda s: s.add("torso", [[0.0, 0.0]]), "bad_shape", "rows have 2 values"),
        (lambda s: s.add("torso", [[0.0, float("nan"), 0.0]]), "non_finite", "channel 'y'"),
        (lambda s: s.add("torso", [[0.0] * 3], rate_hz=-1.0), "bad_rate", "sampling rate"),
        (lambda s: s.add("torso", [[0.0] * 3], t0=float("inf")), "stream_time", "finite"),
        (lambda s: s.add("torso", [[0.0] * 3], t0=1.0), "stream_time", "move forward in time"),
    ],
)
def test_bad_chunks_are_refused_and_leave_the_stream_unchanged(
    call: object, kind: str, message: str
) -> None:
    state = make_state()
    data = recording(10.0)
    state.add("torso", data["torso"][:75], t0=0.0)  # up to 3.0 s
    with pytest.raises(InputError, match=message) as info:
        call(state)  # type: ignore[operator]
    assert info.value.kind == kind
    due = state.add("torso", data["torso"][75:100])
    assert [w.t_end for w in due] == [4.0]
    np.testing.assert_allclose(due[0].windows["torso"], data["torso"][:100], atol=1e-12)


# --- bounded work per message (issue 13) ----------------------------------------------


def test_the_freezing_message_is_refused_by_the_rate_floor() -> None:
    # 32,000 rows at 1 Hz once made 32,000 windows in one synchronous pass (30 s frozen).
    state = make_state(limits=StreamLimits())
    with pytest.raises(InputError, match=r"sampling rate 1 Hz .* \[5, 2000\] Hz") as info:
        state.add("torso", np.zeros((32_000, 3)), t0=0.0, rate_hz=1.0)
    assert info.value.kind == "bad_rate"
    assert state.buffered_bytes() == 0


def test_a_chunk_may_cover_at_most_max_chunk_span_s() -> None:
    state = make_state(limits=StreamLimits(max_chunk_span_s=10.0))
    with pytest.raises(InputError, match=r"covers 1600 s .* at most 10 s") as info:
        state.add("torso", np.zeros((8_000, 3)), t0=0.0, rate_hz=5.0)
    assert info.value.kind == "stream_limit"
    assert state.buffered_bytes() == 0  # unchanged: the stream goes on
    assert [w.t_end for w in state.add("torso", np.zeros((250, 3)), t0=0.0)] == [
        4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0,
    ]  # fmt: skip


def test_one_message_predicts_at_most_max_windows_per_message_the_newest() -> None:
    state = make_state(hop_s=0.1, limits=StreamLimits(max_windows_per_message=16))
    data = recording(10.0)["torso"]
    # Windows covering >= 0.9 of 4 s end at 3.6, 3.7, ..., 10.0: 65 are due.
    due = state.add("torso", data, t0=0.0)
    assert len(due) == 16
    assert state.skipped_windows == 65 - 16
    np.testing.assert_allclose([w.t_end for w in due], np.arange(8.5, 10.01, 0.1), atol=1e-9)
    np.testing.assert_allclose(due[-1].windows["torso"], data[-T:], atol=1e-12)
    # The next message starts afresh: its own windows, nothing skipped.
    more = state.add("torso", recording(1.0, seed=3)["torso"], t0=10.0)
    assert len(more) == 10 and state.skipped_windows == 0


def test_the_stream_buffer_has_a_byte_budget() -> None:
    # One sensor far ahead while another lags: samples pile up until stale_after_s.
    limits = StreamLimits(max_buffer_bytes=200_000, max_chunk_span_s=10.0)
    state = make_state(stale_after_s=60.0, limits=limits)
    state.add("left_leg", np.zeros((25, 3)), t0=0.0)  # the laggard
    for second in range(0, 40, 5):
        try:
            state.add("torso", np.zeros((2500, 3)), t0=float(second), rate_hz=500.0)
        except InputError as error:
            assert error.kind == "stream_limit"
            assert "over its 200000 bytes" in error.detail
            break
    else:
        pytest.fail("the buffer grew past its budget")
    assert state.buffered_bytes() <= 200_000


def test_window_slices_match_a_mask_over_the_buffer() -> None:
    # Irregular chunks with jitter and gaps: binary search finds what a full mask would.
    state = make_state(hop_s=0.5)
    rng = np.random.default_rng(7)
    t = 0.0
    for _ in range(40):
        rows = int(rng.integers(1, 30))
        state.append("torso", rng.normal(size=(rows, 3)), t0=t, rate_hz=25.0)
        t += rows / 25.0 + float(rng.choice([0.0, 0.0, 0.3]))
    buffer = state._buffers["torso"]
    times = buffer.times
    for t_end in np.arange(4.0, t, 0.37):
        inside = (times >= t_end - 4.0 - 1e-6) & (times < t_end - 1e-6)
        expected = np.flatnonzero(inside)
        got = buffer.window_slice(float(t_end))
        assert list(range(got.start, got.stop)) == list(expected)


def test_the_buffer_byte_count_follows_appends_and_trims() -> None:
    state = make_state(hop_s=0.5)
    data = recording(12.0)
    for first in range(0, 300, 7):
        for name, samples in data.items():
            state.add(name, samples[first : first + 7], t0=first / RATE)
        live = sum(b.size * b.bytes_per_sample for b in state._buffers.values())
        assert state.buffered_bytes() == live
    assert 0 < state.buffered_bytes() < 3 * 6 * RATE * 5 * 8  # trimmed to about a window


def test_sample_times_follow_t0_plus_i_over_rate_for_any_chunk_sizes_and_rates() -> None:
    """The module's rule, `t0 + i / rate_hz`, for chunks of many sizes and rates (more
    than the buffer's cache of per-size offsets holds), with and without t0."""
    from service.timeline import _SensorBuffer

    buffer = _SensorBuffer(VIEWS[0])
    expected: list[float] = []
    t = 0.0
    rng = np.random.default_rng(3)
    for rows, rate in [(int(r), float(q)) for r, q in zip(
        rng.integers(1, 40, 30), rng.choice([20.0, 25.0, 50.0, 100.0], 30), strict=True
    )]:  # fmt: skip
        start = t + 0.37
        end = start + (rows - 1) / rate + 1 / rate
        buffer.append(start, np.zeros((rows, 3)), rate, end)
        expected.extend(start + i / rate for i in range(rows))
        t = end
    np.testing.assert_allclose(buffer.times, expected, rtol=0, atol=1e-12)


def test_drop_before_keeps_exactly_one_anchor_before_the_cut() -> None:
    from service.timeline import _SensorBuffer

    buffer = _SensorBuffer(VIEWS[0])
    buffer.append(0.0, np.zeros((50, 3)), RATE, 2.0)  # samples at 0, 0.04, ..., 1.96
    assert buffer.drop_before(0.02) == 0  # only sample 0 lies before 0.02: it is the anchor
    assert buffer.drop_before(1.0) == 24  # 0 .. 0.96 lie before 1.0; 0.96 stays as anchor
    assert buffer.times[0] == pytest.approx(0.96) and buffer.times[1] == pytest.approx(1.0)
    assert buffer.drop_before(1.0) == 0  # idempotent
    assert buffer.drop_before(10.0) == 25  # 0.96 .. 1.92 go; the last sample is the anchor
    assert buffer.size == 1 and buffer.times[0] == pytest.approx(1.96)


def test_a_rate_drop_cannot_reach_back_past_the_previous_last_sample() -> None:
    """After 2000 Hz samples, a 5 Hz chunk starting 0.1 s early would lie within half of
    *its* period of the previous end but before the previous chunk's last samples: refused,
    so a buffer's sample times stay sorted (windows are cut by binary search)."""
    state = make_state()
    state.add("left_leg", np.zeros((30, 3)), t0=-0.01, rate_hz=2000.0)  # ends at 0.005 s
    with pytest.raises(InputError) as refused:
        state.add("left_leg", np.zeros((11, 3)), t0=0.005 - 0.1, rate_hz=5.0)
    assert refused.value.kind == "stream_time"
    # Half of the shorter period (0.25 ms) is still accepted as clock jitter.
    state.add("left_leg", np.zeros((11, 3)), t0=0.005 - 0.0002, rate_hz=5.0)
