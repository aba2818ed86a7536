"""Live narration judged at the speaker: a real PulseAudio server, its null sink recorded, each line found.

:func:`start_pulse` starts Debian's ``pulseaudio`` with a null sink and the native protocol on a
socket of its own (as root it needs ``-n`` and its own ``XDG_RUNTIME_DIR``); players reach it
through ``PULSE_SERVER``. :meth:`PulseServer.record` runs ``parec`` on the sink's monitor.

:func:`hear` finds every spoken line in the recording by cross-correlating it with the rendered
audio of the same timeline, line by line (a window of the render around the line against the
recording near where it should be), then checks the line window by window (50 ms each) to tell
whether it was heard whole: a clipped start or a lost line fails there, whatever the loudness.
Used by tests/test_heard.py and scripts/bench_heard.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.voice.speech import SAMPLE_RATE

from .processes import default_signals

SINK = "voiceguide_test"
WINDOW_S = 0.05
"""Length of the windows a line is checked in."""
MARGIN_S = 0.05
"""Render around a line that goes into its correlation window (the silence before it pins the onset)."""
ANCHOR_S = 10.0
"""The first seconds of the render, found in the recording to tell where the session starts."""
"""Render around a line that goes into its correlation window (the silence before it pins the onset)."""


class PulseUnavailable(Exception):
    """PulseAudio cannot be started here (not installed, or it refused); the reason says which."""


@dataclass
class PulseServer:
    """A running PulseAudio server with one null sink, reachable at ``socket``."""

    folder: Path
    proc: subprocess.Popen[bytes]

    @property
    def socket(self) -> Path:
        return self.folder / "native"

    @property
    def env(self) -> dict[str, str]:
        """Variables that send every PulseAudio client (paplay, the ALSA plugin, PortAudio) here."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SINK": SINK, "XDG_RUNTIME_DIR": str(self.folder),
                "PULSE_RUNTIME_PATH": str(self.folder)}

    @contextlib.contextmanager
    def record(self, path: Path) -> Iterator[Path]:
        """Record the sink's monitor, as mono 16-bit PCM at the live sample rate, into ``path``."""
        env = {**os.environ, **self.env}
        with path.open("wb") as out:
            # a little more of a busy CPU where allowed: a recorder held up past its buffer loses
            # samples, which would look like lines lost by the player under test (a larger buffer
            # than 20 ms made aplay's lines through the ALSA plugin come out clipped)
            proc = subprocess.Popen(
                ["parec", "--raw", "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1", "--latency-msec=20",
                 f"--device={SINK}.monitor"], stdout=out, stderr=subprocess.PIPE, env=env,
                preexec_fn=default_signals())  # it ends on the SIGINT below, even where the runner ignores it
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, proc.pid, -10)
            try:
                time.sleep(0.3)  # parec connected and recording before anything plays
                if proc.poll() is not None:
                    said = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                    raise PulseUnavailable(f"parec failed: {said}")
                yield path
                time.sleep(0.3)  # the tail of the last line
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stderr is not None:
                    proc.stderr.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pulse_missing() -> str | None:
    """Which of the server and its clients is not installed; None when all are."""
    missing = [tool for tool in ("pulseaudio", "parec", "pactl") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian: pulseaudio, pulseaudio-utils; run .ci/install-sound)"
    return None


def start_pulse(folder: Path, timeout_s: float = 15.0) -> PulseServer:
    """Start a PulseAudio server with a null sink in ``folder``; raise :class:`PulseUnavailable` if it cannot."""
    absent = pulse_missing()
    if absent:
        raise PulseUnavailable(absent)
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "native"
    env = {**os.environ, "HOME": str(folder), "XDG_RUNTIME_DIR": str(folder), "XDG_CONFIG_HOME": str(folder)}
    log = (folder / "pulseaudio.log").open("wb")
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disallow-exit",
         "--log-target=stderr", "--log-level=info", "--realtime=yes", "--high-priority=yes",
         f"--load=module-null-sink sink_name={SINK} rate=48000 channels=2",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
        stdout=subprocess.DEVNULL, stderr=log, env=env, start_new_session=True)
    log.close()
    server = PulseServer(folder, proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = (folder / "pulseaudio.log").read_text(errors="replace").strip().splitlines()
            raise PulseUnavailable(f"pulseaudio exited with status {proc.returncode}: {text[-1] if text else ''}")
        if socket.exists():
            check = subprocess.run(["pactl", "info"], env={**os.environ, **server.env}, capture_output=True,
                                   timeout=10)
            if check.returncode == 0:
                return server
        time.sleep(0.1)
    server.stop()
    raise PulseUnavailable(f"pulseaudio did not answer within {timeout_s:g} s")


def read_pcm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64)


@dataclass(frozen=True)
class Line:
    """One spoken line as heard: where the recording has it, and whether all of it is there."""

    text: str
    scheduled_s: float
    """When it was due, in wall seconds since playback began (the events log's scheduled_s)."""
    heard_s: float
    """Where the cross-correlation puts its first sample, in recording seconds."""
    windows: int
    """Windows of the line with sound in the render."""
    missing: tuple[int, ...]
    """Those of them the recording does not have (their index from the line's start)."""

    @property
    def offset_s(self) -> float:
        return self.heard_s - self.scheduled_s

    @property
    def whole(self) -> bool:
        return not self.missing


def _xcorr(signal_: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Cross-correlation of ``template`` at every lag inside ``signal_`` (FFT, valid lags only)."""
    n = len(signal_) + len(template)
    size = 1 << (n - 1).bit_length()
    spec = np.fft.rfft(signal_, size) * np.conj(np.fft.rfft(template, size))
    return np.fft.irfft(spec, size)[: len(signal_) - len(template) + 1]


def _window_heard(ref: np.ndarray, rec: np.ndarray) -> bool:
    """A window is heard when the recording has the same waveform at about the same level."""
    ref_norm, rec_norm = float(np.linalg.norm(ref)), float(np.linalg.norm(rec))
    if rec_norm == 0:
        return False
    corr = float(np.dot(ref, rec)) / (ref_norm * rec_norm)
    return corr > 0.8 and 0.5 < rec_norm / ref_norm < 2.0


def hear(recording: np.ndarray, render: np.ndarray, lines: Sequence[tuple[str, float, float, float]],
         search_s: float = 0.25, first_search_s: float = 120.0) -> list[Line]:
    """Find each line in the recording.

    ``lines`` are (text, start_s in the render, end_s in the render, scheduled_s in wall time).
    The first line is searched for over the first ``first_search_s`` of the recording; each next
    one within ``search_s`` of where the lines found so far say it should be.
    """
    rate = SAMPLE_RATE
    margin, win = round(MARGIN_S * rate), round(WINDOW_S * rate)
    floor = 10 ** (-40 / 20) * float(np.max(np.abs(render))) if len(render) else 0.0
    found: list[Line] = []
    offsets: list[float] = []
    if lines:  # where the session begins: its first seconds (several lines, a pattern no single tone has)
        start_s, scheduled_s = lines[0][1], lines[0][3]
        head = render[round(start_s * rate) : round((start_s + ANCHOR_S) * rate)]
        segment = recording[: round(first_search_s * rate) + len(head)]
        if len(segment) >= len(head) > 0:
            offsets.append(int(np.argmax(_xcorr(segment, head))) / rate - scheduled_s)
    for text, start_s, end_s, scheduled_s in lines:
        a, b = round(start_s * rate), round(end_s * rate)
        ref_lo = max(0, a - margin)
        template = render[ref_lo : b + margin]
        if offsets:
            expect = scheduled_s + statistics.median(offsets[-9:])
            lo = max(0, round((expect - search_s) * rate) - (a - ref_lo))
            hi = round((expect + search_s) * rate) + len(template)
        else:
            lo, hi = 0, round(first_search_s * rate) + len(template)
        segment = recording[lo:hi]
        if len(segment) < len(template):
            found.append(Line(text, scheduled_s, float("nan"), 1, (0,)))
            continue
        corr = _xcorr(segment, template)
        lag = lo + int(np.argmax(corr)) + (a - ref_lo)
        heard_s = lag / rate
        missing, windows = [], 0
        for k, w0 in enumerate(range(a, b, win)):
            if b - w0 < win // 2:
                break  # a sliver at the end went into the window before
            ref_w = render[w0 : b if b - (w0 + win) < win // 2 else w0 + win]
            if float(np.sqrt(np.mean(ref_w**2))) < floor:
                continue
            windows += 1
            rec_w = recording[lag + (w0 - a) : lag + (w0 - a) + len(ref_w)]
            if len(rec_w) < len(ref_w) or not _window_heard(ref_w, rec_w):
                missing.append(k)
        line = Line(text, scheduled_s, heard_s, windows, tuple(missing))
        found.append(line)
        if line.whole:
            offsets.append(line.offset_s)
    return found


@dataclass(frozen=True)
class Verdict:
    """How a session sounded: lines lost or clipped, timing against the constant latency, drift."""

    lines: int
    not_whole: list[str]
    latency_s: float
    """The median of heard - scheduled: the stream's constant latency (plus the recorder's)."""
    errors_ms: list[float]
    """|offset - latency| of every line heard whole, in ms."""
    drift_ms: float
    """The fitted change in offset from the first line to the last (ms)."""

    @property
    def max_ms(self) -> float:
        return max(self.errors_ms, default=float("nan"))

    @property
    def p90_ms(self) -> float:
        if not self.errors_ms:
            return float("nan")
        ordered = sorted(self.errors_ms)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    def summary(self) -> str:
        return (f"{self.lines - len(self.not_whole)}/{self.lines} lines heard whole; "
                f"within {self.max_ms:.1f} ms of a constant {self.latency_s * 1000:.0f} ms latency "
                f"(p90 {self.p90_ms:.1f} ms); drift {self.drift_ms:+.1f} ms over the session")


def judge(found: Sequence[Line]) -> Verdict:
    whole = [line for line in found if line.whole]
    not_whole = [f"{line.text} (windows {list(line.missing)} of {line.windows} missing)"
                 for line in found if not line.whole]
    if not whole:
        return Verdict(len(found), not_whole, float("nan"), [], float("nan"))
    latency = statistics.median(line.offset_s for line in whole)
    errors = [abs(line.offset_s - latency) * 1000 for line in whole]
    drift = 0.0
    if len(whole) > 2:
        t = np.array([line.scheduled_s for line in whole])
        slope = float(np.polyfit(t, np.array([line.offset_s for line in whole]), 1)[0])
        drift = slope * float(t[-1] - t[0]) * 1000
    return Verdict(len(found), not_whole, latency, errors, drift)
