"""CRC-16 (ARC), as the MP3 Info/LAME tag uses it, for files assembled from parts.

The tag carries a CRC of all audio frames. The file is assembled from parts and silent frames,
so the CRC is assembled too: per-frame CRCs (computed for all frames at once with numpy) are
folded together with the linear map that "appending n zero bytes" is on a 16-bit register.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xA001 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


def crc16(data: bytes, crc: int = 0) -> int:
    table = _crc_table()
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def frame_crcs(frames: list[bytes]) -> list[int]:
    """CRC-16 of each frame, computed column by column over all frames of a length at once."""
    import numpy as np

    table = np.array(_crc_table(), dtype=np.uint32)
    result = [0] * len(frames)
    by_length: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_length.setdefault(len(f), []).append(i)
    for length, indices in by_length.items():
        data = np.frombuffer(b"".join(frames[i] for i in indices), dtype=np.uint8).reshape(-1, length)
        crc = np.zeros(len(indices), dtype=np.uint32)
        for j in range(length):
            crc = (crc >> 8) ^ table[(crc ^ data[:, j]) & 0xFF]
        for i, value in zip(indices, crc.tolist()):
            result[i] = value
    return result


def _apply(columns: tuple[int, ...], vector: int) -> int:
    out, i = 0, 0
    while vector:
        if vector & 1:
            out ^= columns[i]
        vector >>= 1
        i += 1
    return out


@functools.lru_cache(maxsize=1)
def _zero_byte_powers() -> tuple[tuple[int, ...], ...]:
    """The maps for appending 1, 2, 4, ... 2**40 zero bytes (each a tuple of 16 columns)."""
    bit = tuple([0xA001] + [1 << i for i in range(15)])
    byte = bit
    for _ in range(3):
        byte = tuple(_apply(byte, c) for c in byte)
    powers = [byte]
    for _ in range(40):
        last = powers[-1]
        powers.append(tuple(_apply(last, c) for c in last))
    return tuple(powers)


@functools.lru_cache(maxsize=64)
def _shift_tables(length: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Lookup tables (low byte, high byte) for appending ``length`` zero bytes."""
    return tuple(_shift(v, length) for v in range(256)), tuple(_shift(v << 8, length) for v in range(256))


def _shift(crc: int, length: int) -> int:
    for power in _zero_byte_powers():
        if not length:
            break
        if length & 1:
            crc = _apply(power, crc)
        length >>= 1
    return crc


def crc16_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC of A followed by B from the CRCs of each and B's length (as zlib's crc32_combine)."""
    return _shift(crc_a, length_b) ^ crc_b


def crc16_of_run(pieces: list[tuple[bytes, int]], crc: int = 0) -> int:
    """CRC of frames given as (frame, times repeated), in order, continuing from ``crc``."""
    singles = [frame for frame, times in pieces if times == 1]
    crcs = iter(frame_crcs(singles))
    for frame, times in pieces:
        single = times == 1
        crc = _append(crc, next(crcs), len(frame)) if single else _repeat_crc(crc, crc16(frame), len(frame), times)
    return crc


def _repeat_crc(crc: int, unit_crc: int, unit_length: int, times: int) -> int:
    """CRC after appending ``times`` copies of a unit, by doubling."""
    block_crc, block_length = unit_crc, unit_length
    while times:
        if times & 1:
            crc = crc16_combine(crc, block_crc, block_length)
        block_crc = crc16_combine(block_crc, block_crc, block_length)
        block_length *= 2
        times >>= 1
    return crc


def crcs_of_runs(runs: list[list[bytes]]) -> list[int]:
    """CRC-16 of each run of frames, with every frame of every run computed at once."""
    crcs = iter(frame_crcs([frame for run in runs for frame in run]))
    out = []
    for run in runs:
        crc = 0
        for frame in run:
            crc = _append(crc, next(crcs), len(frame))
        out.append(crc)
    return out


def _append(crc: int, frame_crc: int, length: int) -> int:
    """CRC after appending a frame of ``length`` bytes whose own CRC is ``frame_crc`` (a table lookup
    per byte of the register, as :func:`crc16_combine` with the tables made once per length)."""
    low, high = _shift_tables(length)
    return low[crc & 0xFF] ^ high[crc >> 8] ^ frame_crc
