"""MPEG audio layer III frames: their sizes and the Info/LAME tag.

What :mod:`voiceguide.sound.segments` needs to cut encoded segments into frames and join them: every
frame's length from its header, whether a frame stands alone (borrows nothing from the bit
reservoir), and the tag at the front of the file that players read the length and gapless
trim from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voiceguide.sound.crc16 import crc16

_INFO_SIZE = 156
"""Bytes of the Info tag from its 'Info' word to its CRC (what ffmpeg writes)."""


def frame_size(header: bytes) -> int:
    """Length of the MPEG audio layer III frame that starts with this 4-byte header, or 0."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return 0
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (header[1] >> 1) & 3
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 3, (header[2] >> 1) & 1
    if layer != 1 or version == 1 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}[version]
    if version == 3:
        kbps = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)[bitrate_index]
        return 144 * kbps * 1000 // rates[rate_index] + padding
    kbps = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)[bitrate_index]
    return 72 * kbps * 1000 // rates[rate_index] + padding


def split_frames(data: bytes) -> list[bytes]:
    """The frames of an MP3 stream with no tags; ValueError if it holds anything else."""
    frames, pos = [], 0
    while pos < len(data):
        size = frame_size(data[pos : pos + 4])
        if size == 0 or pos + size > len(data):
            raise ValueError(f"not an MP3 frame at byte {pos}")
        frames.append(data[pos : pos + size])
        pos += size
    return frames


def _side_info_offset(frame: bytes) -> int:
    return 4 if frame[1] & 1 else 6  # protection bit set: no CRC


def _info_offset(frame: bytes | bytearray) -> int:
    version, mono = (frame[1] >> 3) & 3, (frame[3] >> 6) == 3
    side = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    return 4 + side


def stands_alone(frame: bytes) -> bool:
    """True if the frame borrows no bits from the frames before it (main_data_begin is 0)."""
    offset = _side_info_offset(frame)
    mpeg1 = (frame[1] >> 3) & 3 == 3
    return frame[offset] == 0 and (not mpeg1 or frame[offset + 1] & 0x80 == 0)


@dataclass(frozen=True)
class Tag:
    """What the Info/LAME tag of an encoded part says."""

    frames: int
    delay: int
    padding: int
    audio_crc: int


def read_tag(info_frame: bytes) -> Tag | None:
    at = _info_offset(info_frame)
    if info_frame[at : at + 4] not in (b"Info", b"Xing") or info_frame[at + 7] & 15 != 15:
        return None
    frames = int.from_bytes(info_frame[at + 8 : at + 12], "big")
    delay_padding = int.from_bytes(info_frame[at + 141 : at + 144], "big")
    crc = int.from_bytes(info_frame[at + _INFO_SIZE - 4 : at + _INFO_SIZE - 2], "big")
    return Tag(frames, delay_padding >> 12, delay_padding & 0xFFF, crc)


def write_tag(info_frame: bytes, starts: Sequence[int], audio_size: int, padding: int, audio_crc: int) -> bytes:
    """The first part's Info frame, rewritten for the whole file.

    ``starts`` holds the byte offset of every audio frame from the start of the file.
    """
    out = bytearray(info_frame)
    at = _info_offset(out)
    size = len(out) + audio_size
    out[at + 8 : at + 12] = len(starts).to_bytes(4, "big")
    out[at + 12 : at + 16] = size.to_bytes(4, "big")
    # table of contents: the byte position, out of 256, at each percent of the duration
    for i in range(1, 100):
        out[at + 16 + i] = min(255, 256 * starts[i * len(starts) // 100] // size)
    delay = int.from_bytes(out[at + 141 : at + 144], "big") >> 12
    out[at + 141 : at + 144] = ((delay << 12) | padding).to_bytes(3, "big")
    out[at + _INFO_SIZE - 8 : at + _INFO_SIZE - 4] = audio_size.to_bytes(4, "big")
    out[at + _INFO_SIZE - 4 : at + _INFO_SIZE - 2] = audio_crc.to_bytes(2, "big")
    out[at + _INFO_SIZE - 2 : at + _INFO_SIZE] = b"\0\0"  # the tag's CRC covers its own field as zero
    out[at + _INFO_SIZE - 2 : at + _INFO_SIZE] = crc16(bytes(out[:190])).to_bytes(2, "big")
    return bytes(out)
