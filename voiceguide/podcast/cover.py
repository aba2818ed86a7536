"""A pack's cover art: the user's image made podcast-ready, or one drawn from the pack's title.

Apple Podcasts wants square RGB artwork of 1400-3000 px as PNG or JPEG. A given image that already
is one is kept byte for byte; anything else is center-cropped and scaled into that range. Drawing
is deterministic, so rebuilding a pack leaves ``cover.png`` unchanged.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from voiceguide.errors import VoiceguideError

MIN_SIZE = 1400
MAX_SIZE = 3000
GENERATED_SIZE = 1400
_TOP = (23, 94, 107)
_BOTTOM = (12, 36, 64)
_INK = (250, 248, 240)
_ACCENT = (247, 196, 112)


class CoverError(VoiceguideError):
    """Raised when a pack's cover image cannot be read as a PNG or JPEG picture."""


MAX_SOURCE_SIDE = 10_000
"""A cover larger than this on a side is refused before it is decoded (a decompression bomb)."""
MAX_SOURCE_BYTES = 50_000_000


def cover_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a cover, or None when it can (used by pack validation)."""
    if not path.is_file():
        return f"no such image file: {path}"
    if path.stat().st_size > MAX_SOURCE_BYTES:
        return f"{path.name} is larger than {MAX_SOURCE_BYTES // 1_000_000} MB; use a smaller image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            if image.format not in ("PNG", "JPEG"):
                return f"{path.name} is {image.format or 'not an image'}; use a PNG or JPEG"
            width, height = image.size
            if max(width, height) > MAX_SOURCE_SIDE:
                return (f"{path.name} is {width}x{height} pixels; use an image of at most "
                        f"{MAX_SOURCE_SIDE}x{MAX_SOURCE_SIDE} (3000x3000 is ideal)")
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() reads no pixels: a truncated file is only found by decoding it
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"{path.name} has too many pixels to decode safely; use an image of at most 3000x3000"
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        return f"{path.name} is not a readable image ({e})"
    return None


def podcast_cover(path: Path) -> bytes:
    """The PNG bytes of ``path`` as podcast artwork: square, RGB, 1400-3000 px on a side."""
    problem = cover_problem(path)
    if problem:
        raise CoverError(problem)
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        width, height = image.size
        if image.format == "PNG" and image.mode == "RGB" and width == height and MIN_SIZE <= width <= MAX_SIZE:
            return raw
        picture = ImageOps.exif_transpose(image).convert("RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    square = picture.crop((left, top, left + side, top + side))
    target = max(MIN_SIZE, min(MAX_SIZE, side))
    if target != side:
        square = square.resize((target, target), Image.Resampling.LANCZOS)
    return _png(square)


def generate_cover(title: str, byline: str = "", size: int = GENERATED_SIZE) -> bytes:
    """A square PNG with the pack's title on a calm gradient, and a row of 'vertebrae' above it."""
    gradient = Image.linear_gradient("L").resize((size, size))
    image = ImageOps.colorize(gradient, black=_TOP, white=_BOTTOM).convert("RGB")
    draw = ImageDraw.Draw(image)
    margin = size // 10
    # a gently curved column of rounded blocks: a spine, drawn sideways across the top
    blocks = 9
    step = (size - 2 * margin) / blocks
    for i in range(blocks):
        x0 = margin + i * step + step * 0.12
        lift = int(size * 0.03 * (1 - ((i - (blocks - 1) / 2) / ((blocks - 1) / 2)) ** 2))
        y0 = size * 0.2 - lift
        draw.rounded_rectangle(
            (x0, y0, x0 + step * 0.76, y0 + size * 0.07), radius=int(size * 0.02), fill=_ACCENT,
        )
    width = size - 2 * margin
    font, lines = _fit_title(draw, title, width, size)
    line_height = int(font.size * 1.18)
    y = int(size * 0.36)
    for line in lines:
        draw.text((margin, y), line, font=font, fill=_INK)
        y += line_height
    if byline:
        byline_size = max(12, size // 28)
        small = ImageFont.load_default(size=byline_size)
        draw.text((margin, size - margin - byline_size), byline, font=small, fill=_ACCENT)
    return _png(image)


def _fit_title(
    draw: ImageDraw.ImageDraw, title: str, width: int, size: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font (down to a floor) at which the title wraps into at most four lines."""
    font_size = size // 8
    while True:
        font = ImageFont.load_default(size=font_size)
        if not isinstance(font, ImageFont.FreeTypeFont):  # pragma: no cover - Pillow without FreeType
            raise CoverError("Pillow was built without FreeType; give the pack a cover image")
        lines = _wrap(draw, title, font, width)
        if (len(lines) <= 4 and all(draw.textlength(x, font=font) <= width for x in lines)) or font_size <= size // 40:
            return font, lines
        font_size = int(font_size * 0.9)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
