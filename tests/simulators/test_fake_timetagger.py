"""Check the Swabian API fake: names, stream and gated counts of the lab's tags, inputs."""

from __future__ import annotations

import numpy as np
import pytest

import heralder.simulators.fake_timetagger as TT  # noqa: N812 (the usual alias)
from heralder.config import AtomsConfig
from heralder.control.clock import SimClock
from heralder.control.records import SwitchState
from heralder.estimation.detector import DetectorModel
from heralder.simulators.lab import CLICK_CHANNEL, MARKER_CHANNEL, VirtualLab

GATE_S = 2e-3


@pytest.fixture
def lab() -> VirtualLab:
    lab = VirtualLab(AtomsConfig(n_atoms=400, fixed_s=20),
                     DetectorModel(eta=0.5, dark_counts_per_gate=0.1, gate_s=GATE_S),
                     SimClock(), 2, pulse_period_s=2.5e-3)
    lab.new_shot()
    lab.switch.arm_pattern([SwitchState.TC, SwitchState.ANTI_TC])
    return lab


def test_module_mirrors_the_api_names() -> None:
    for name in ("createTimeTagger", "createTimeTaggerVirtual", "freeTimeTagger",
                 "scanTimeTagger", "getVersion", "hasTimeTaggerVirtualLicense", "TagType",
                 "CHANNEL_UNUSED", "TimeTagStream", "GatedCounter", "CountBetweenMarkers",
                 "Countrate", "SynchronizedMeasurements"):
        assert hasattr(TT, name)
    assert TT.CHANNEL_UNUSED == -134217728 and int(TT.TagType.MissedEvents) == 4
    assert not TT.hasTimeTaggerVirtualLicense()
    with pytest.raises(RuntimeError, match="license"):
        TT.createTimeTaggerVirtual()


def test_gated_counter_and_stream_see_the_same_clicks(lab: VirtualLab) -> None:
    tagger = TT.createTimeTagger(lab=lab)
    sync = TT.SynchronizedMeasurements(tagger)
    gated = TT.GatedCounter(sync.getTagger(), [CLICK_CHANNEL], MARKER_CHANNEL, n_values=6)
    stream = TT.TimeTagStream(sync.getTagger(), 10**6, [CLICK_CHANNEL, MARKER_CHANNEL])
    sync.registerMeasurement(gated)
    sync.registerMeasurement(stream)
    sync.start()
    for _ in range(100):
        if gated.ready():
            break
    assert gated.ready()
    counts = gated.getData()
    buffer = stream.getData()
    stamps, channels = buffer.getTimestamps(), buffer.getChannels()
    assert stamps.dtype == np.int64 and np.all(np.diff(stamps) >= 0)
    markers = np.flatnonzero(channels == MARKER_CHANNEL)
    between = np.diff(markers) - 1
    assert counts.shape == (1, 6) and counts[0].tolist() == between[:6].tolist()
    widths = gated.getBinWidths()
    assert np.all(widths == 2_500_000_000)
    assert gated.getIndex()[1] == 2_500_000_000
    assert buffer.getEventTypes().tolist() == [0] * buffer.size


def test_input_settings_act_on_the_tags(lab: VirtualLab) -> None:
    tagger = TT.createTimeTagger(lab=lab)
    assert tagger.setDeadtime(CLICK_CHANNEL, 5000) == 5000
    assert tagger.setDeadtime(CLICK_CHANNEL, 100) == 2000
    tagger.setTriggerLevel(MARKER_CHANNEL, 0.3)
    assert abs(tagger.getTriggerLevel(MARKER_CHANNEL) - 0.3) < 1e-3
    tagger.setTriggerLevel(CLICK_CHANNEL, 3.0)  # above the signal: no clicks
    tagger.setInputDelay(MARKER_CHANNEL, 1000)
    stream = TT.TimeTagStream(tagger, 10**6, [CLICK_CHANNEL, MARKER_CHANNEL])
    buffer = stream.getData()
    assert set(buffer.getChannels().tolist()) == {MARKER_CHANNEL}
    assert (buffer.getTimestamps()[0] - 1000) % 1000 == 0


def test_stream_overflow_and_buffer_limit(lab: VirtualLab) -> None:
    tagger = TT.createTimeTagger(lab=lab)
    stream = TT.TimeTagStream(tagger, 5, [CLICK_CHANNEL, MARKER_CHANNEL])
    lab.clock.sleep(0.1)  # 40 pulses are due
    buffer = stream.getData()
    assert buffer.size == 5 and buffer.hasOverflows
    tagger.inject_overflow()
    stream = TT.TimeTagStream(tagger, 10**6, [MARKER_CHANNEL])
    buffer = stream.getData()
    assert buffer.getEventTypes().tolist() == [TT.TagType.OverflowBegin, TT.TagType.OverflowEnd]
    assert buffer.hasOverflows
    assert tagger.getOverflowsAndClear() == 1 and tagger.getOverflows() == 0


def test_start_for_and_wait_until_finished(lab: VirtualLab) -> None:
    tagger = TT.createTimeTagger(lab=lab)
    rate = TT.Countrate(tagger, [MARKER_CHANNEL])
    rate.startFor(int(20e9))  # 20 ms of tags
    assert rate.waitUntilFinished(1000)
    assert not rate.isRunning()
    assert rate.getData()[0] == pytest.approx(400.0, rel=0.15)  # one marker per 2.5 ms


def test_freed_tagger_and_unknown_serial_raise() -> None:
    with pytest.raises(RuntimeError, match="serial"):
        TT.createTimeTagger("NOPE")
    lab = VirtualLab(AtomsConfig(n_atoms=10), DetectorModel(), SimClock(), 0)
    tagger = TT.createTimeTagger(lab=lab)
    TT.freeTimeTagger(tagger)
    with pytest.raises(RuntimeError, match="freed"):
        tagger.getSerial()
