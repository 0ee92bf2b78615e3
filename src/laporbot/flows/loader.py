"""Load the flows of a folder and refuse any authoring mistake with file, step and reason.

`conversations/commands.yaml` holds the words that work everywhere and the entry flow; every
other `*.yaml` is one flow:

    flow: report          # the flow's name (the file's stem)
    start: category       # its first step
    steps:
      category: {type: choice, prompt: report.ask_category, options: [...], next: danger}

Checked at load: the file parses and has only known keys; every step has a registered type and
valid fields (a choice needs options); every target exists (no dangling `next`); every step can
be reached from its flow's start or from another flow; every step that moves on has somewhere
to go; answer references name steps of the flow; every message id exists in every language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from laporbot.errors import FlowError
from laporbot.flows.schema import STEP_TYPES, Commands, Flow, Flows, Limits, Step

# Importing the step modules registers the step types.
from laporbot.flows.steps import actions as _actions  # noqa: F401
from laporbot.flows.steps import branch as _branch  # noqa: F401
from laporbot.flows.steps import choice as _choice  # noqa: F401
from laporbot.flows.steps import confirm as _confirm  # noqa: F401
from laporbot.flows.steps import end as _end  # noqa: F401
from laporbot.flows.steps import location as _location  # noqa: F401
from laporbot.flows.steps import message as _message  # noqa: F401
from laporbot.flows.steps import number as _number  # noqa: F401
from laporbot.flows.steps import phone as _phone  # noqa: F401
from laporbot.flows.steps import photo as _photo  # noqa: F401
from laporbot.flows.steps import text as _text  # noqa: F401
from laporbot.flows.steps import yes_no as _yes_no  # noqa: F401
from laporbot.flows.steps.actions import ActionStep
from laporbot.i18n import Translator
from laporbot.settings import Settings

COMMANDS_FILE = "commands.yaml"
_FLOW_KEYS = {"flow", "start", "steps", "title"}
_COMMAND_KEYS = {
    "entry",
    "help_target",
    "officer_target",
    "cancel",
    "back",
    "restart",
    "language",
    "help",
    "languages",
}

# Message ids the engine itself shows, whatever the flows say.
ENGINE_MESSAGE_IDS = (
    "common.nudge",
    "common.expired",
    "common.cancelled",
    "common.too_long",
    "common.unsupported",
    "common.too_many_tries",
    "common.restart",
    "common.officer",
    "common.nothing_back",
    "common.choose_language",
    "common.language_set",
    "common.reask.choice",
    "lang.name",
)


class _FlowLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 `yes:`, `no:` and `on:` are booleans,
    which would turn a yes_no step's `yes:` target or a branch `on:` into True."""


_FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(text: str) -> Any:
    """Parse flow YAML with YAML 1.2 booleans."""
    return yaml.load(text, Loader=_FlowLoader)  # a SafeLoader subclass


def _read_yaml(path: Path) -> Any:
    try:
        return read_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(path.name, "file", f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise FlowError(path.name, "file", f"not valid YAML: {exc}") from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problem = error["msg"]
        if error["type"] == "too_short" and where in ("options", "fields"):
            problem = f"needs at least one entry in {where}"
        elif error["type"] == "missing":
            problem = "is required"
        elif error["type"] == "extra_forbidden":
            problem = "is not a field of this step type"
        parts.append(f"{where} {problem}" if where else problem)
    return "; ".join(parts)


def parse_step(file: str, step_id: str, raw: Any) -> Step:
    """One step from its YAML mapping; refuses an unknown type or bad fields."""
    if not isinstance(raw, dict):
        raise FlowError(file, step_id, "a step must be a mapping with a type")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise FlowError(file, step_id, "step has no type")
    model = STEP_TYPES.get(kind)
    if model is None:
        known = ", ".join(sorted(STEP_TYPES))
        raise FlowError(file, step_id, f"unknown step type {kind!r} (known: {known})")
    try:
        return model.model_validate({**raw, "id": step_id})
    except ValidationError as exc:
        raise FlowError(file, step_id, f"{kind}: {_describe(exc)}") from None


def parse_flow(path: Path) -> Flow:
    """One flow file, checked on its own (types, fields, local targets)."""
    file = path.name
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise FlowError(file, "file", "a flow file must be a mapping (flow, start, steps)")
    unknown = sorted(set(raw) - _FLOW_KEYS)
    if unknown:
        raise FlowError(file, "file", f"unknown key(s): {', '.join(map(str, unknown))}")
    name, start, raw_steps = raw.get("flow"), raw.get("start"), raw.get("steps")
    if not isinstance(name, str) or name != path.stem:
        raise FlowError(file, "flow", f"flow name must be the file name {path.stem!r}")
    if not isinstance(raw_steps, dict) or not raw_steps:
        raise FlowError(file, "steps", "a flow needs steps")
    steps = {
        str(step_id): parse_step(file, str(step_id), body) for step_id, body in raw_steps.items()
    }
    if not isinstance(start, str) or start not in steps:
        raise FlowError(file, "start", f"start step {start!r} does not exist")
    title = raw.get("title")
    return Flow(name, file, start, steps, title if isinstance(title, str) else None)


def _words(file: str, key: str, value: Any) -> frozenset[str]:
    from laporbot.flows.matching import normalize

    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise FlowError(file, key, "must be a list of words")
    return frozenset(normalize(word) for word in value)


def parse_commands(path: Path) -> Commands:
    """The words that work at every step, and the entry flow."""
    file = path.name
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise FlowError(file, "file", "commands.yaml must be a mapping")
    unknown = sorted(set(raw) - _COMMAND_KEYS)
    missing = sorted(_COMMAND_KEYS - set(raw))
    if unknown or missing:
        raise FlowError(file, "file", f"unknown key(s) {unknown}, missing key(s) {missing}")
    languages = raw["languages"]
    if not isinstance(languages, dict):
        raise FlowError(file, "languages", "must map a language to its words")
    for key in ("entry", "help_target", "officer_target"):
        if not isinstance(raw[key], str):
            raise FlowError(file, key, "must be a flow name or target")
    return Commands(
        cancel=_words(file, "cancel", raw["cancel"]),
        back=_words(file, "back", raw["back"]),
        restart=_words(file, "restart", raw["restart"]),
        language=_words(file, "language", raw["language"]),
        help=_words(file, "help", raw["help"]),
        languages={str(k): _words(file, f"languages.{k}", v) for k, v in languages.items()},
        entry=raw["entry"],
        help_target=raw["help_target"],
        officer_target=raw["officer_target"],
    )


def _resolve(flows: Mapping[str, Flow], flow: Flow, target: str) -> tuple[str, str] | None:
    if target.startswith("@"):
        name, _, step_id = target[1:].partition(".")
        other = flows.get(name)
        if other is None:
            return None
        step_id = step_id or other.start
        return (name, step_id) if step_id in other.steps else None
    return (flow.name, target) if target in flow.steps else None


def check(flows: Mapping[str, Flow], commands: Commands, translator: Translator) -> None:
    """Cross-file checks: targets, reachability, answer references, message ids."""
    commands_file = COMMANDS_FILE
    if commands.entry not in flows:
        raise FlowError(commands_file, "entry", f"no flow {commands.entry!r}")
    for key in ("help_target", "officer_target"):
        target = getattr(commands, key)
        if not target.startswith("@") or _resolve(flows, flows[commands.entry], target) is None:
            raise FlowError(commands_file, key, f"dangling target {target!r}")
    reached: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(name, flow.start) for name, flow in flows.items()]
    for target in (commands.help_target, commands.officer_target):
        resolved = _resolve(flows, flows[commands.entry], target)
        if resolved is not None:
            todo.append(resolved)
    for flow in flows.values():
        for step in flow.steps.values():
            for target in step.targets():
                if _resolve(flows, flow, target) is None:
                    raise FlowError(flow.file, step.id, f"dangling target {target!r}")
            if step.needs_next() and step.next is None:
                raise FlowError(flow.file, step.id, "no next step")
            for ref in step.answer_refs():
                if ref.split(".", 1)[0] not in flow.steps:
                    raise FlowError(flow.file, step.id, f"reads the answer of no step: {ref!r}")
            for field in getattr(step, "fields", []):
                if flow.steps[field].label is None:
                    raise FlowError(flow.file, step.id, f"summary field {field!r} has no label")
    while todo:
        name, step_id = todo.pop()
        if (name, step_id) in reached:
            continue
        reached.add((name, step_id))
        flow = flows[name]
        for target in flow.steps[step_id].targets():
            resolved = _resolve(flows, flow, target)
            if resolved is not None:
                todo.append(resolved)
    for flow in flows.values():
        for step_id in flow.steps:
            if (flow.name, step_id) not in reached:
                raise FlowError(flow.file, step_id, "unreachable step")
    _check_no_silent_loop(flows)
    for flow in flows.values():
        for step in flow.steps.values():
            _check_ids(translator, flow.file, step.id, step.message_ids())
        if flow.title:
            _check_ids(translator, flow.file, "title", [flow.title])
    _check_ids(translator, commands_file, "engine", ENGINE_MESSAGE_IDS)


def _check_no_silent_loop(flows: Mapping[str, Flow]) -> None:
    """Refuse a cycle of steps that never wait (messages, branches): the answers cannot change
    inside it, so a conversation entering it would never stop."""
    done: set[tuple[str, str]] = set()

    def visit(node: tuple[str, str], path: list[tuple[str, str]]) -> None:
        flow = flows[node[0]]
        step = flow.steps[node[1]]
        if step.waits or isinstance(step, ActionStep) or node in done:
            return
        if node in path:
            raise FlowError(flow.file, step.id, "steps loop without waiting for an answer")
        for target in step.targets():
            resolved = _resolve(flows, flow, target)
            if resolved is not None:
                visit(resolved, [*path, node])
        done.add(node)

    for flow in flows.values():
        for step_id in flow.steps:
            visit((flow.name, step_id), [])


def _check_ids(translator: Translator, file: str, where: str, msgids: Iterable[str]) -> None:
    for msgid in msgids:
        for locale in translator.locales:
            if not translator.has(locale, msgid):
                raise FlowError(
                    file, where, f"message id {msgid!r} missing from the {locale} catalog"
                )


def flow_files(folder: Path) -> list[Path]:
    """The flow files of a folder (every `*.yaml` but the commands file), sorted."""
    return sorted(p for p in folder.glob("*.yaml") if p.name != COMMANDS_FILE)


def load_flows(
    folder: Path,
    translator: Translator,
    limits: Limits | None = None,
    languages: Sequence[str] = (),
) -> Flows:
    """Load and check every flow in `folder`; raises `FlowError` on the first mistake.

    `languages` (the deployment's `settings.locales`) limits the languages citizens are
    offered to those that also have a catalog; empty: every language with a catalog."""
    if not folder.is_dir():
        raise FlowError(str(folder), "folder", "no such folder")
    commands_path = folder / COMMANDS_FILE
    if not commands_path.is_file():
        raise FlowError(COMMANDS_FILE, "file", f"missing in {folder}")
    commands = parse_commands(commands_path)
    flows: dict[str, Flow] = {}
    for path in flow_files(folder):
        flow = parse_flow(path)
        flows[flow.name] = flow
    check(flows, commands, translator)
    return Flows(flows, commands, translator, limits or Limits(), tuple(languages))


def limits_of(settings: Settings) -> Limits:
    """The engine's limits from the settings."""
    return Limits(
        max_message_chars=settings.max_message_chars,
        nudge_minutes=settings.session_nudge_minutes,
        idle_minutes=settings.session_idle_minutes,
    )


def load_from_settings(settings: Settings, translator: Translator | None = None) -> Flows:
    """The flows of `settings.conversations_dir`, with the catalogs of `settings.locales_dir`."""
    if translator is None:
        translator = Translator(settings.locales_dir, settings.default_locale)
    return load_flows(settings.conversations_dir, translator, limits_of(settings), settings.locales)
