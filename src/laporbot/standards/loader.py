"""Reading standards files: YAML in, validated `Agency` out, or errors that name file and field."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from laporbot.errors import StandardsError
from laporbot.standards.models import Agency

SUFFIXES = (".yaml", ".yml")


def files_in(path: Path) -> list[Path]:
    """The standards files at `path`: the file itself, or every *.yaml/*.yml in the folder."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    return [path]


def _field_path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(file)"


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing field"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, (str, int, float)) and repr(value) not in message:
        message = f"{message}, got {value!r}"
    return message


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


# libyaml when present: ten times faster than the pure-Python parser, same marks and errors.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data, from one parse."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def _errors_of(name: str, text: str) -> tuple[Agency | None, list[StandardsError]]:
    try:
        root, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [StandardsError(name, where, f"YAML syntax error: {problem}")]
    if not isinstance(data, dict):
        return None, [StandardsError(name, "(file)", "expected a mapping of agency fields")]
    errors: list[StandardsError] = []
    for index, standard in enumerate(data.get("standards") or []):
        if isinstance(standard, dict) and "agency_code" in standard:
            errors.append(
                StandardsError(
                    name, f"standards[{index}].agency_code", "unknown field (set by the loader)"
                )
            )
    try:
        agency = Agency.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problem = _problem(error)
            line = _line_of(root, loc)
            if line is not None:
                problem = f"{problem} (line {line})"
            errors.append(StandardsError(name, _field_path(loc), problem))
        return None, errors
    if errors:
        return None, errors
    standards = [s.model_copy(update={"agency_code": agency.code}) for s in agency.standards]
    return agency.model_copy(update={"standards": standards}), []


def display_name(path: Path) -> str:
    """How errors name a file: relative to the working directory when it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def check_file(path: Path) -> list[StandardsError]:
    """Every problem of one standards file (an empty list when it is valid)."""
    name = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [StandardsError(name, "(file)", f"cannot read: {exc}")]
    return _errors_of(name, text)[1]


def load_file(path: Path) -> Agency:
    """One validated agency with its standards; raises `StandardsError` for the first problem."""
    name = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StandardsError(name, "(file)", f"cannot read: {exc}") from exc
    agency, errors = _errors_of(name, text)
    if errors:
        raise errors[0]
    assert agency is not None
    return agency


def load_files(path: Path) -> Iterator[tuple[Path, Agency]]:
    """Each file at `path` with its agency, in file-name order."""
    if not path.exists():
        raise StandardsError(display_name(path), "(file)", "no such file or folder")
    for file in files_in(path):
        yield file, load_file(file)
