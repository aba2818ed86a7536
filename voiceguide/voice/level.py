"""Each clip's leveling, done once per clip (as its audio arrives from a worker) and cached with it.

A clip is band-limited to what the MP3 keeps, compressed where it is loudest, brought to a
reference loudness and true-peak limited. Its K-weighted energy is kept per short bin, so a
session's integrated loudness can be measured from where its clips are placed, without a pass
over the session's audio.
"""

from __future__ import annotations

import math

import numpy as np

from voiceguide.sound import dsp

SAMPLE_RATE = 22050
ENERGY_BIN = 147
"""Samples per energy bin: 400 ms loudness blocks are 60 bins, their 100 ms hop 15 bins."""
BLOCK_BINS = 60
HOP_BINS = 15
REFERENCE_LUFS = -15.6
"""Every clip is leveled to this; the session's gain then moves the whole to the target. It sits
a little over the usual -16 target because the MP3 encoder takes about 0.45 dB off."""
CLIP_CEILING_DBTP = -3.5
"""A clip's true peaks are held this far under full scale: 1.5 dB under the session's ceiling
(:data:`voiceguide.sound.audio.LIMIT_CEILING_DBTP`), so a session gain of up to +1.5 dB needs no
second limiting pass. A session measures 0.8-1.1 dB under its clips' own loudness (the pauses
around each line fall into its 400 ms blocks), so its gain is usually about +1 dB; with a ceiling
of -3 dBTP, a voice whose peaks reach the ceiling (Piper) had every clip limited again on every render."""
LOW_PASS_HZ = 7500.0


def energy_bins(x: np.ndarray) -> np.ndarray:
    """Summed squared K-weighted samples per :data:`ENERGY_BIN`, as float32."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.float32)
    y = dsp.k_weighted(x, SAMPLE_RATE) ** 2
    n = -(-len(y) // ENERGY_BIN) * ENERGY_BIN
    padded = np.zeros(n)
    padded[: len(y)] = y
    return np.asarray(padded.reshape(-1, ENERGY_BIN).sum(axis=1), dtype=np.float32)


def level_speech(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Raw int16 speech -> (leveled int16, energy bins, true peak as a fraction of full scale)."""
    x = raw.astype(np.float64) / 32768.0
    if len(x) == 0:
        return raw, np.zeros(0, dtype=np.float32), 0.0
    x = dsp.low_pass(x, LOW_PASS_HZ, SAMPLE_RATE)
    rms_db = 10 * math.log10(max(float(np.mean(x * x)), 1e-12))
    x = dsp.compress(x, SAMPLE_RATE, threshold_db=rms_db - 2.0, ratio=3.0)
    bins = energy_bins(x)
    current = session_loudness(bins)
    gain = 10 ** ((REFERENCE_LUFS - current) / 20) if math.isfinite(current) else 1.0
    limited, peak = dsp.Limiter(x, SAMPLE_RATE).apply(gain, 10 ** (CLIP_CEILING_DBTP / 20))
    pcm = np.clip(np.round(limited * 32767), -32768, 32767).astype(np.int16)
    return pcm, energy_bins(limited), peak + 1 / 32768


def finish(x: np.ndarray, ceiling: float, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Limit ``x * gain`` under ``ceiling``, quantize, and measure what came out."""
    limited, peak = dsp.Limiter(x, SAMPLE_RATE).apply(gain, ceiling)
    pcm = np.clip(np.round(limited * 32767), -32768, 32767).astype(np.int16)
    return pcm, energy_bins(limited), peak + 1 / 32768  # rounding moves a peak by half a step at most


def hop_sums(energy: np.ndarray, first_bin: int) -> tuple[int, np.ndarray]:
    """A sound's energy bins, placed from bin ``first_bin`` of a session, summed per loudness hop
    (:data:`HOP_BINS` bins): (the first hop it reaches, the sums of the hops it covers)."""
    first_hop, offset = divmod(first_bin, HOP_BINS)
    cuts = np.arange((HOP_BINS - offset) % HOP_BINS, len(energy), HOP_BINS)
    if len(cuts) == 0 or cuts[0] != 0:
        cuts = np.concatenate(([0], cuts))
    return first_hop, np.add.reduceat(energy.astype(np.float64), cuts)


def loudness_of_hops(hops: np.ndarray) -> float:
    """Integrated loudness (LUFS) of a session from its energy summed per hop: each 400 ms block
    is four hops, so the session needs one number per 100 ms, not one per bin."""
    return _blocks_loudness(hops, BLOCK_BINS // HOP_BINS, 1)


def session_loudness(placed_energy: np.ndarray) -> float:
    """Integrated loudness (LUFS) of a session from its energy bins laid end to end."""
    return _blocks_loudness(placed_energy, BLOCK_BINS, HOP_BINS)


def _blocks_loudness(energy: np.ndarray, per_block: int, step: int) -> float:
    """Integrated loudness of 400 ms blocks made of ``per_block`` consecutive values of
    ``energy``, one block every ``step`` values."""
    if len(energy) < per_block:
        energy = np.concatenate((energy, np.zeros(per_block - len(energy))))
    cs = np.concatenate(([0.0], np.cumsum(energy, dtype=np.float64)))
    starts = np.arange(0, len(energy) - per_block + 1, step)
    block = (cs[starts + per_block] - cs[starts]) / (BLOCK_BINS * ENERGY_BIN)
    return dsp.integrated_loudness(block)
