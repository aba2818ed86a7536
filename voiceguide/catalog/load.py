"""Loading the catalog from its folder, checking user files, and resolving what a user typed as ROUTINE."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from voiceguide.catalog.types import Catalog, Routine, RoutineItem, Stretch
from voiceguide.catalog.validate import phrases_from_document, routine_from_document, stretch_from_document
from voiceguide.catalog.yamlio import Document, load_document
from voiceguide.errors import CatalogError, Problem, UnknownIdError


def bundled_catalog_dir() -> Path:
    """The catalog shipped with the package (wheel), or the repository's own (source checkout)."""
    here = Path(__file__).resolve().parent.parent  # the voiceguide package
    for candidate in (here / "_catalog", here.parent / "catalog"):
        if (candidate / "stretches").is_dir():
            return candidate
    raise CatalogError([Problem(str(here), None, None, "the bundled catalog is missing; reinstall voiceguide")])


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def load_catalog(root: Path | None = None) -> Catalog:
    """Load every stretch and routine under ``root``; report all problems in all files at once."""
    root = root or bundled_catalog_dir()
    catalog = Catalog(root=root)
    problems: list[Problem] = []
    for path in sorted((root / "stretches").glob("*.yaml")):
        try:
            stretch = stretch_from_document(load_document(path, _display(path, root)), path.stem)
            catalog.stretches[stretch.id] = stretch
        except CatalogError as e:
            problems += e.problems
    for path in sorted((root / "routines").glob("*.yaml")):
        try:
            routine = routine_from_document(load_document(path, _display(path, root)), catalog.stretches, path.stem)
            catalog.routines[routine.id] = routine
        except CatalogError as e:
            problems += e.problems
    phrases_file = root / "phrases.yaml"
    if not phrases_file.is_file():
        phrases_file = bundled_catalog_dir() / "phrases.yaml"
    try:
        catalog.phrases = phrases_from_document(load_document(phrases_file, _display(phrases_file, root)))
    except CatalogError as e:
        problems += e.problems
    if problems:
        raise CatalogError(problems)
    return catalog


def check_files(paths: Sequence[Path], catalog: Catalog) -> list[Problem]:
    """Validate user stretch and routine files (told apart by their keys); return all problems."""
    problems: list[Problem] = []
    extra: dict[str, Stretch] = {}
    docs: list[Document] = []
    for path in paths:
        try:
            docs.append(load_document(path))
        except CatalogError as e:
            problems += e.problems
    # stretches first, so a user's routine may use a user's stretch checked alongside it
    for doc in docs:
        if _is_routine(doc):
            continue
        try:
            stretch = stretch_from_document(doc)
            extra[stretch.id] = stretch
        except CatalogError as e:
            problems += e.problems
    known = {**catalog.stretches, **extra}
    for doc in docs:
        if _is_routine(doc):
            try:
                routine_from_document(doc, known)
            except CatalogError as e:
                problems += e.problems
    return problems


def _is_routine(doc: Document) -> bool:
    return isinstance(doc.data, dict) and ("stretches" in doc.data or "title" in doc.data)


def resolve_routine(spec: str, catalog: Catalog) -> Routine:
    """Turn what a user typed as ROUTINE into a routine.

    A routine id, a stretch id (a one-stretch session), comma-separated stretch ids, or a path
    to a routine YAML file.
    """
    path = Path(spec)
    if spec.endswith((".yaml", ".yml")) or (("/" in spec or "\\" in spec) and path.exists()):
        if not path.is_file():
            raise UnknownIdError(f"{spec}: no such routine file")
        return routine_from_document(load_document(path), catalog.stretches)
    if spec in catalog.routines:
        return catalog.routines[spec]
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids:
        raise UnknownIdError("no routine given")
    if len(ids) == 1 and ids[0] not in catalog.stretches:
        catalog.routine(ids[0])  # raises with suggestions across routines and stretches
    stretches = [catalog.stretch(i) for i in ids]
    if len(stretches) <= 3:
        title = " and ".join(s.name for s in stretches) if len(stretches) == 2 else ", ".join(s.name for s in stretches)
    else:
        title = f"{stretches[0].name} and {len(stretches) - 1} more stretches"
    return Routine(
        id="-".join(ids) if len(ids) <= 3 else f"{ids[0]}-and-{len(ids) - 1}-more",
        title=title,
        description=f"A session of {title}.",
        minutes=None,
        items=tuple(RoutineItem(i) for i in ids),
    )

