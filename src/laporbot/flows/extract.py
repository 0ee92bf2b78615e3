"""Babel extractor for conversation flows: `pybabel extract -F babel.cfg` collects every message
id a flow file uses (prompts, labels, options, re-asks), with its line number.

Registered in pyproject as the `laporbot_flows` extractor; babel.cfg maps
`conversations/**.yaml` to it. The commands file has no message ids; the engine's own ids
(`laporbot.flows.loader.ENGINE_MESSAGE_IDS`) are added with the entry flow's file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

from laporbot.errors import FlowError
from laporbot.flows.loader import COMMANDS_FILE, ENGINE_MESSAGE_IDS, parse_step, read_yaml

Extracted = tuple[int, str | None, str, list[str]]


def _line_of(lines: list[str], msgid: str) -> int:
    for number, line in enumerate(lines, start=1):
        if msgid in line:
            return number
    return 0


def extract_flows(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: list[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    """Yield (line, funcname, message id, comments) for every message id in a flow file."""
    text = fileobj.read().decode("utf-8")
    name = getattr(fileobj, "name", "flow.yaml")
    file = str(name).rsplit("/", 1)[-1]
    lines = text.splitlines()
    raw = read_yaml(text)
    if file == COMMANDS_FILE:
        for msgid in ENGINE_MESSAGE_IDS:
            yield 0, None, msgid, ["laporbot engine"]
        return
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict):
        raise FlowError(file, "file", "not a flow file (flow, start, steps)")
    seen: set[str] = set()
    ids: list[tuple[str, str]] = []
    if isinstance(raw.get("title"), str):
        ids.append(("title", raw["title"]))
    for step_id, body in raw["steps"].items():
        step = parse_step(file, str(step_id), body)
        ids.extend((step.id, msgid) for msgid in step.message_ids())
    for step_id, msgid in ids:
        if msgid in seen:
            continue
        seen.add(msgid)
        yield _line_of(lines, msgid), None, msgid, [f"step {step_id}"]
