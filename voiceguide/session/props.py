"""The props a session asks for, named in its opening so they are at hand before the first stretch.

A settle of a few seconds is no time to go and fetch a blanket; whatever any line of the session
mentions is named once at the start instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from voiceguide.session.words import join_words

PROPS = ("blanket", "cushion", "pillow", "towel", "strap", "belt", "block", "bolster")
"""Things a line may ask a person to use, in the order the opening names them."""
_PROP = re.compile(r"\b(?:(folded|rolled|thin|small)\s+)?(" + "|".join(PROPS) + r")s?\b", re.IGNORECASE)


def props_in(texts: Iterable[str]) -> list[str]:
    """Each prop the lines mention, once, with the first word that shapes it ("a folded blanket")."""
    found: dict[str, str] = {}
    for text in texts:
        for shape, prop in _PROP.findall(text):
            prop = prop.lower()
            if prop not in found or (shape and found[prop] == prop):
                found[prop] = f"{shape.lower()} {prop}" if shape else prop
    return [found[p] for p in PROPS if p in found]


def props_line(texts: Iterable[str]) -> str | None:
    """"Have a folded blanket and a cushion nearby.", or None when the session uses no prop."""
    props = props_in(texts)
    if not props:
        return None
    return f"Have {join_words([f'a {p}' for p in props])} nearby."
