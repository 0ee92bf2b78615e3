"""Every word a citizen or officer reads, from Babel catalogs, in their language.

Catalogs live in `locales/<lang>/LC_MESSAGES/<domain>.po`, one domain per area (`flows`,
`officers`, `reminders`, `channels`, `timefmt`, ...). Message ids are symbolic
(`report.ask_category`) and share one namespace across domains; placeholders use Python
`{name}` format syntax.

At start the `Translator` compiles a `.mo` beside each `.po` that has none or an older one
(compiled catalogs are never committed, so they can never be stale), then loads the `.mo`
files. When the folder is read-only it reads the `.po` directly instead: same messages.

Dates and durations are worded by `laporbot.timefmt` (Babel, in the office's time zone);
`format_due` and `format_relative` are re-exported here so callers need one import.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from laporbot.errors import CatalogError
from laporbot.timefmt import format_due, format_relative

__all__ = ["Translator", "compile_catalogs", "format_due", "format_relative"]

DEFAULT_LOCALE = "id"


def _language(locale: str) -> str:
    """`en-US` / `en_US` / `EN` -> `en`: catalogs are per language."""
    return locale.replace("-", "_").split("_", 1)[0].lower()


def _read_po(path: Path, language: str) -> Catalog:
    try:
        with path.open("rb") as handle:
            return read_po(handle, locale=language, domain=path.stem)
    except (OSError, ValueError, SyntaxError) as exc:
        raise CatalogError(str(path), "file", f"cannot read catalog: {exc}") from exc


def compile_catalogs(locales_dir: Path) -> list[Path]:
    """Compile every `.po` under `locales_dir` whose `.mo` is missing or older; return those."""
    compiled: list[Path] = []
    for po in sorted(locales_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = _read_po(po, po.parent.parent.name)
        partial = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        try:
            with partial.open("wb") as handle:
                write_mo(handle, catalog)
            # Atomic: a worker starting at the same moment reads the old file or the new one.
            os.replace(partial, mo)
        except OSError:
            # A read-only install: the loader falls back to the .po, which holds the same text.
            partial.unlink(missing_ok=True)
            continue
        compiled.append(mo)
    return compiled


def _load_domain(po: Path, language: str) -> Mapping[str, str]:
    """The translated messages of one catalog: its `.mo` when that is up to date, else the
    `.po`. Parsed once per content: `serve` builds a `Translator` for the flows, the officers
    and the web chat alike, and parsing the catalogs is most of what a `Translator` costs."""
    mo = po.with_suffix(".mo")
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        return _parse_domain(mo, language, mo.read_bytes())
    try:
        data = po.read_bytes()
    except OSError as exc:
        raise CatalogError(str(po), "file", f"cannot read catalog: {exc}") from exc
    return _parse_domain(po, language, data)


@lru_cache(maxsize=128)
def _parse_domain(path: Path, language: str, data: bytes) -> Mapping[str, str]:
    """The messages of the catalog file `path` (`.mo` or `.po`) whose bytes are `data`."""
    catalog: Catalog
    if path.suffix == ".mo":
        catalog = read_mo(io.BytesIO(data))
    else:
        try:
            catalog = read_po(io.BytesIO(data), locale=language, domain=path.stem)
        except (ValueError, SyntaxError) as exc:
            raise CatalogError(str(path), "file", f"cannot read catalog: {exc}") from exc
    messages: dict[str, str] = {}
    for message in catalog:
        # Plural entries have tuple ids; laporbot words counts with Babel, not gettext plurals.
        if (
            isinstance(message.id, str)
            and message.id
            and isinstance(message.string, str)
            and message.string
            and not message.fuzzy
        ):
            messages[message.id] = message.string
    return MappingProxyType(messages)


class Translator:
    """Looks up message ids in every domain catalog of every language under `locales_dir`.

    `text(locale, msgid, **params)` falls back to the default locale (Indonesian) when the
    locale lacks the id, and raises `CatalogError` when no catalog has it: a missing id is an
    authoring mistake that `laporbot flows check` and the catalog tests catch before release.
    """

    def __init__(
        self,
        locales_dir: Path,
        default_locale: str = DEFAULT_LOCALE,
        *,
        compile_mo: bool = True,
    ) -> None:
        self.locales_dir = locales_dir
        self.default_locale = _language(default_locale)
        if compile_mo:
            compile_catalogs(locales_dir)
        self._messages: dict[str, dict[str, str]] = {}
        self._sources: dict[str, dict[str, str]] = {}
        for po in sorted(locales_dir.glob("*/LC_MESSAGES/*.po")):
            language = _language(po.parent.parent.name)
            domain = _load_domain(po, language)
            into = self._messages.setdefault(language, {})
            sources = self._sources.setdefault(language, {})
            for msgid, string in domain.items():
                if msgid in into and into[msgid] != string:
                    raise CatalogError(
                        str(po), msgid, f"message id already defined in {sources[msgid]}"
                    )
                into[msgid] = string
                sources[msgid] = po.stem
        if self.default_locale not in self._messages:
            raise CatalogError(
                str(locales_dir), self.default_locale, "no catalog for the default locale"
            )

    @property
    def locales(self) -> tuple[str, ...]:
        """The languages with at least one catalog, the default first."""
        others = sorted(lang for lang in self._messages if lang != self.default_locale)
        return (self.default_locale, *others)

    def resolve(self, locale: str | None) -> str:
        """The catalog language used for `locale` (the default when there is none for it)."""
        if locale:
            language = _language(locale)
            if language in self._messages:
                return language
        return self.default_locale

    def has(self, locale: str, msgid: str) -> bool:
        """Whether the catalog of `locale` itself (no fallback) has `msgid`."""
        return msgid in self._messages.get(_language(locale), {})

    def msgids(self, locale: str) -> frozenset[str]:
        """Every message id the catalogs of `locale` define (all domains)."""
        return frozenset(self._messages.get(_language(locale), {}))

    def domain_of(self, locale: str, msgid: str) -> str | None:
        """Which domain file defines `msgid` for `locale` (for error messages)."""
        return self._sources.get(_language(locale), {}).get(msgid)

    def text(self, locale: str | None, msgid: str, **params: object) -> str:
        """`msgid` in `locale` (else the default locale), with `{name}` placeholders filled."""
        template = self._messages.get(self.resolve(locale), {}).get(msgid)
        if template is None:
            template = self._messages[self.default_locale].get(msgid)
        if template is None:
            raise CatalogError(str(self.locales_dir), msgid, "message id in no catalog")
        if not params:
            return template
        try:
            return template.format_map(_Params(params))
        except (ValueError, IndexError) as exc:
            raise CatalogError(str(self.locales_dir), msgid, f"bad placeholder: {exc}") from exc

    def due(self, locale: str | None, dt: datetime, tz_name: str) -> str:
        """A due time worded for `locale` in the office's zone: "Rabu, 25 Maret 2026 pukul ..."."""
        return format_due(self.resolve(locale), dt, tz_name, locales_dir=self.locales_dir)

    def relative(self, locale: str | None, delta: timedelta) -> str:
        """Time left or overdue worded for `locale`: "2 jam lagi", "terlambat 1 hari"."""
        return format_relative(self.resolve(locale), delta, locales_dir=self.locales_dir)


class _Params(dict[str, object]):
    """Format parameters that leave an unknown `{placeholder}` visible instead of crashing:
    a translator's typo must not cost a citizen their answer."""

    def __init__(self, params: Mapping[str, object]) -> None:
        super().__init__(params)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
