"""Translator: domains merged, .mo compiled when stale, fallback to Indonesian, missing ids loud."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from laporbot.errors import CatalogError
from laporbot.i18n import Translator, compile_catalogs
from laporbot.paths import data_dir

HEADER = (
    'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n'
    '"Content-Type: text/plain; charset=UTF-8\\n"\n"Plural-Forms: {plural}\\n"\n\n'
)


def write_po(root: Path, lang: str, domain: str, messages: dict[str, str]) -> Path:
    folder = root / lang / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    plural = "nplurals=1; plural=0;" if lang == "id" else "nplurals=2; plural=(n != 1);"
    body = HEADER.format(lang=lang, plural=plural)
    for msgid, string in messages.items():
        body += f'msgid "{msgid}"\nmsgstr "{string}"\n\n'
    path = folder / f"{domain}.po"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    write_po(tmp_path, "id", "flows", {"hello": "Halo {name}", "only.id": "Hanya"})
    write_po(tmp_path, "id", "officers", {"officer.hi": "Selamat pagi"})
    write_po(tmp_path, "en", "flows", {"hello": "Hello {name}"})
    return tmp_path


def test_text_fills_placeholders_in_the_asked_language(locales: Path) -> None:
    translator = Translator(locales)
    assert translator.text("id", "hello", name="Sri") == "Halo Sri"
    assert translator.text("en-US", "hello", name="Sri") == "Hello Sri"
    assert translator.text("id", "officer.hi") == "Selamat pagi"
    assert translator.locales == ("id", "en")


def test_missing_in_locale_falls_back_to_indonesian(locales: Path) -> None:
    translator = Translator(locales)
    assert translator.text("en", "only.id") == "Hanya"
    assert translator.text("jv", "hello", name="X") == "Halo X"
    assert not translator.has("en", "only.id")
    assert translator.has("id", "only.id")
    assert translator.msgids("en") == frozenset({"hello"})


def test_missing_everywhere_raises(locales: Path) -> None:
    translator = Translator(locales)
    with pytest.raises(CatalogError, match="nope"):
        translator.text("en", "nope")


def test_unknown_placeholder_stays_visible(locales: Path) -> None:
    assert Translator(locales).text("id", "hello", other=1) == "Halo {name}"


def test_mo_compiled_when_missing_or_stale(locales: Path) -> None:
    Translator(locales)
    mo = locales / "id" / "LC_MESSAGES" / "flows.mo"
    assert mo.is_file()
    assert compile_catalogs(locales) == []  # fresh: nothing to do
    po = write_po(locales, "id", "flows", {"hello": "Hai {name}", "only.id": "Hanya"})
    old = mo.stat().st_mtime - 10
    os.utime(mo, (old, old))
    assert po.stat().st_mtime > mo.stat().st_mtime
    assert Translator(locales).text("id", "hello", name="A") == "Hai A"


def test_a_catalog_changed_in_place_is_read_again(locales: Path) -> None:
    """Catalogs parsed once are reused by later translators, but only while the file's bytes
    are the same: an edit of the same size within the same mtime tick is still seen."""
    po = locales / "en" / "LC_MESSAGES" / "flows.po"
    first = Translator(locales, compile_mo=False)
    assert first.text("en", "hello", name="A") == "Hello A"
    stat = po.stat()
    po.write_bytes(po.read_bytes().replace(b"Hello", b"Howdy"))
    os.utime(po, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert po.stat().st_size == stat.st_size
    assert Translator(locales, compile_mo=False).text("en", "hello", name="A") == "Howdy A"
    assert first.text("en", "hello", name="A") == "Hello A"  # a built translator keeps its own


def test_conflicting_duplicate_across_domains_is_refused(locales: Path) -> None:
    write_po(locales, "id", "reminders", {"hello": "Lain"})
    with pytest.raises(CatalogError, match="already defined"):
        Translator(locales)


def test_shipped_catalogs_word_due_times() -> None:
    translator = Translator(data_dir("locales"))
    due = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
    assert translator.due("id", due, "Asia/Jakarta") == "Rabu, 25 Maret 2026 pukul 16.00 WIB"
    assert translator.relative("id", timedelta(hours=2)) == "2 jam lagi"


def test_every_shipped_message_exists_in_every_language() -> None:
    """A message id in one language's catalog and not another's fails here, domain by domain."""
    locales = data_dir("locales")
    translator = Translator(locales)
    missing = {
        (locale, translator.domain_of(other, msgid), msgid)
        for locale in translator.locales
        for other in translator.locales
        for msgid in translator.msgids(other) - translator.msgids(locale)
    }
    assert sorted(missing, key=str) == []


def test_indonesian_catalogs_declare_one_plural_form() -> None:
    for po in sorted((data_dir("locales") / "id" / "LC_MESSAGES").glob("*.po")):
        assert "Plural-Forms: nplurals=1; plural=0;" in po.read_text(encoding="utf-8"), po.name


def test_read_only_folder_reads_the_po(locales: Path) -> None:
    folder = locales / "id" / "LC_MESSAGES"
    folder.chmod(0o555)
    try:
        translator = Translator(locales)
    finally:
        folder.chmod(0o755)
    assert translator.text("id", "hello", name="B") == "Halo B"
    assert not (folder / "flows.mo").exists() or os.geteuid() == 0
