"""Safe YAML reading that remembers the line of every value.

Catalog errors must name a file, a field and a line. PyYAML's node graph has the marks, so this
module composes nodes (never constructing arbitrary objects), refuses anchors and aliases (which
are how alias bombs work) and deep nesting before composing, and turns the nodes into plain
values plus a map from a field path to its line.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voiceguide.errors import CatalogError, Problem

try:  # the C parser is much faster where libyaml is present
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MAX_DEPTH = 20
MAX_BYTES = 1_000_000

PathKey = tuple[Any, ...]


@dataclass
class Document:
    """A parsed YAML file: its data, and the line (1-based) of each value by path."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int | None:
        """The line of the value at ``path``, or of its nearest parent that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def key_line(self, path: PathKey) -> int | None:
        """The line where the key at ``path`` is written (for unknown or misplaced keys)."""
        return self.lines.get(("#key", *path)) or self.line(path)


def _fail(file: str, line: int | None, message: str) -> CatalogError:
    return CatalogError([Problem(file, line, None, message)])


def load_document(path: Path, display: str | None = None) -> Document:
    """Read one YAML file safely; raise :class:`CatalogError` naming the file and line."""
    name = display or str(path)
    raw = read_limited(path, name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(name, None, "file is not UTF-8 text") from e
    return parse_document(text, name)


def read_limited(path: Path, name: str, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; never more is read.

    A folder, a pipe, a device or a symlink loop is refused with the reason, never waited on
    (a pipe is opened without blocking) nor read without end (``/dev/zero``).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _fail(name, None, "cannot read file (a loop of symbolic links)") from e
        if e.errno == errno.EISDIR:
            raise _fail(name, None, "is a folder, not a YAML file") from e
        raise _fail(name, None, f"cannot read file ({e.strerror or e})") from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise _fail(name, None, "is a folder, not a YAML file")
        raise _fail(name, None, "is not a regular file (a pipe, device or socket); give a YAML file")
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(limit + 1)
        except OSError as e:
            raise _fail(name, None, f"cannot read file ({e.strerror or e})") from e
    if len(raw) > limit:
        raise _fail(name, None, f"file is larger than {limit // 1000} kB")
    return raw


def parse_document(text: str, name: str) -> Document:
    """Parse YAML text into a :class:`Document`; ``name`` is used in error messages."""
    try:
        _prescan(text, name)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise _fail(name, line, f"invalid YAML: {e.problem or e.context}") from e
    except yaml.reader.ReaderError as e:  # a character YAML forbids, such as a raw NUL
        line = text.count("\n", 0, max(0, e.position)) + 1
        what = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise _fail(name, line, f"invalid YAML: the character {what} is not allowed ({e.reason})") from e
    except yaml.YAMLError as e:
        raise _fail(name, None, f"invalid YAML: {' '.join(str(e).split())}") from e
    doc = Document(name, None)
    if node is None:
        return doc
    doc.data = _build(node, (), doc)
    return doc


def _prescan(text: str, name: str) -> None:
    """Reject anchors, aliases and deep nesting from the event stream, before any node is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _fail(name, line, "YAML anchors and aliases are not allowed in catalog files")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(name, line, f"YAML is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


_scalar_loader = yaml.SafeLoader("")


def _build(node: yaml.Node, path: PathKey, doc: Document) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar_loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _fail(doc.file, line, "every key must be a plain word")
            if key in result:
                raise _fail(doc.file, line, f"key '{key}' appears twice")
            doc.lines[("#key",) + path + (key,)] = line
            result[key] = _build(value_node, (*path, key), doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc) for i, item in enumerate(node.value)]
    try:
        return _scalar_loader.construct_object(node)
    except yaml.constructor.ConstructorError as e:
        raise _fail(doc.file, node.start_mark.line + 1, f"invalid value: {e.problem}") from e
    except ValueError as e:  # a well-formed but impossible value, such as the date 2025-02-30
        raise _fail(doc.file, node.start_mark.line + 1, f"invalid value '{node.value}': {e}") from e
