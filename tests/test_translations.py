"""The Simplified Chinese catalogue is complete, well-formed, compiled and up to date.

Regenerate and compile it from the package directory, so that only PEMS's own
sources are scanned (not tests/, bench/ or examples/)::

    cd src/pems
    pems makemessages -l zh_Hans --no-location
    # translate every new or fuzzy entry in locale/zh_Hans/LC_MESSAGES/django.po
    pems compilemessages -l zh_Hans

The .po is read with a small parser here (no extra dependency); the .mo with
the standard library's :class:`gettext.GNUTranslations`.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

import pems

PACKAGE = Path(pems.__file__).resolve().parent
MESSAGES = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES"
PO = MESSAGES / "django.po"
MO = MESSAGES / "django.mo"
REGENERATE = "cd src/pems && pems makemessages -l zh_Hans --no-location"
COMPILE = "cd src/pems && pems compilemessages -l zh_Hans"

#: Words the catalogue does not use, and the established term to use instead.
NOT_OUR_TERMS = {
    "跳闸": "拉闸 (trip)",
    "充值": "购电 (a sale of credit) or 售电 (to sell)",
    "租户": "商户 (tenant)",
}


@dataclass
class Entry:
    line: int
    msgctxt: str | None = None
    msgid: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())

    def __str__(self) -> str:
        return f"line {self.line}: {self.msgid!r}"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$')


def _unquote(text: str) -> str:
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"not a quoted PO string: {text}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """Every live entry of a .po file (the header included, obsolete ``#~`` ones left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # the keyword a continuation line extends

    def close() -> None:
        nonlocal current, target
        if current is not None and current.msgid is not None:
            entries.append(current)
        current, target = None, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                close()
            continue
        if line.startswith("#"):
            if current is not None and current.msgid is not None:
                close()  # comments open the next entry
            current = current or Entry(number)
            if line.startswith("#,"):
                current.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith('"'):
            if current is None or target is None:
                raise ValueError(f"{path}:{number}: string outside an entry")
            keyword, index = target
            text = _unquote(line)
            if keyword == "msgstr":
                current.msgstr[index] += text
            else:
                setattr(current, keyword, getattr(current, keyword) + text)
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: cannot read {raw!r}")
        keyword, index, text = match.group(1), int(match.group(2) or 0), _unquote(match.group(3))
        if keyword in ("msgctxt", "msgid") and current is not None and current.msgstr:
            close()
        current = current or Entry(number)
        if keyword == "msgstr":
            current.msgstr[index] = text
        else:
            setattr(current, keyword, text)
        target = (keyword, index)
    close()
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    """The zh_Hans entries, header left out."""
    return [e for e in parse_po(PO) if e.msgid != ""]


def test_the_parser_reads_what_gettext_writes(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        '#, fuzzy\n#| msgid "old"\nmsgid "a \\"b\\""\nmsgstr "甲"\n\n'
        'msgctxt "relay"\nmsgid ""\n"Close "\n"it"\nmsgstr "合闸"\n'
        '#, python-format\nmsgid "%(n)s row"\nmsgid_plural "%(n)s rows"\nmsgstr[0] "%(n)s 行"\n'
        '#~ msgid "gone"\n#~ msgstr "旧"\n',
        encoding="utf-8",
    )
    header, quoted, context, plural = parse_po(po)
    assert header.msgstr[0] == "Plural-Forms: nplurals=1; plural=0;\n"
    assert (quoted.msgid, quoted.fuzzy) == ('a "b"', True)
    assert (context.msgctxt, context.msgid, context.msgstr) == ("relay", "Close it", {0: "合闸"})
    assert (plural.msgid_plural, plural.msgstr, plural.flags) == (
        "%(n)s rows",
        {0: "%(n)s 行"},
        {"python-format"},
    )


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    assert len(catalogue) > 300, "the catalogue looks truncated"
    untranslated = [str(e) for e in catalogue if not e.translated]
    fuzzy = [str(e) for e in catalogue if e.fuzzy]
    assert not untranslated, f"untranslated in {PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy (review, then drop the flag) in {PO.name}: {fuzzy}"


def test_plural_entries_have_the_one_form_chinese_has(catalogue):
    header = parse_po(PO)[0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]
    wrong = [str(e) for e in catalogue if e.msgid_plural is not None and set(e.msgstr) != {0}]
    assert not wrong


_PERCENT = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?([sdifrxXeEgGc%])")
_BRACES = re.compile(r"(?<!\{)\{(\w*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")
_TAGS = re.compile(r"</?(?:a|b|br|code|em|i|p|small|span|strong)\b[^>]*>")


def placeholders(text: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for name, conversion in _PERCENT.findall(text):
        if conversion != "%":
            found[f"%({name}){conversion}" if name else f"%{conversion}"] += 1
    found.update(f"{{{name}}}" for name in _BRACES.findall(text))
    found.update(_TAGS.findall(text))
    return found


def test_placeholder_and_tag_helper_sees_what_matters():
    assert placeholders("%(a)s of %(b)r, %s, {n} and <b>x</b>, 100%%") == Counter(
        ["%(a)s", "%(b)r", "%s", "{n}", "<b>", "</b>"]
    )
    assert placeholders("+<country><number> {{ literal }}") == Counter()


def test_translations_keep_every_placeholder_and_tag(catalogue):
    wrong = []
    for e in catalogue:
        for text in e.msgstr.values():
            # nplurals=1: the one form may follow either the singular or the plural msgid.
            sources = [s for s in (e.msgid, e.msgid_plural) if s is not None]
            if placeholders(text) not in [placeholders(s) for s in sources]:
                wrong.append(f"{e}: {dict(placeholders(sources[0]))} ≠ {dict(placeholders(text))}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_catalogue_keeps_its_terms(catalogue):
    """The trade's words, once chosen, everywhere (see NOT_OUR_TERMS)."""
    wrong = [
        f"{e}: {text!r} uses {term}; use {instead}"
        for e in catalogue
        for text in e.msgstr.values()
        for term, instead in NOT_OUR_TERMS.items()
        if term in text
    ]
    assert not wrong, "\n".join(wrong)


def _expected_mo_catalogue(entries: list[Entry]) -> dict[object, str]:
    """What msgfmt puts in the .mo: translated, non-fuzzy entries (header left out)."""
    expected: dict[object, str] = {}
    for e in entries:
        if e.msgid == "" or e.fuzzy or not e.translated:
            continue
        key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt is not None else e.msgid
        assert e.msgid is not None
        if e.msgid_plural is None:
            expected[key] = e.msgstr[0]
        else:
            expected.update({(key, index): text for index, text in e.msgstr.items()})
    return expected


def _mo_catalogue(path: Path) -> dict[object, str]:
    with path.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    return {key: text for key, text in translations._catalog.items() if key != ""}  # type: ignore[attr-defined]


def test_the_compiled_catalogue_matches_the_po():
    expected = _expected_mo_catalogue(parse_po(PO))
    compiled = _mo_catalogue(MO)
    stale = sorted(str(k) for k in expected.keys() - compiled.keys())
    extra = sorted(str(k) for k in compiled.keys() - expected.keys())
    changed = sorted(
        str(k) for k in expected.keys() & compiled.keys() if expected[k] != compiled[k]
    )
    out_of_date = f"{MO.name} is out of date with {PO.name} (run: {COMPILE})"
    assert not stale, f"{out_of_date}; not compiled: {stale[:5]}"
    assert not extra, f"{out_of_date}; compiled but gone from the .po: {extra[:5]}"
    assert not changed, f"{out_of_date}; changed since: {changed[:5]}"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_msgfmt_accepts_the_catalogue_as_compilemessages_will(tmp_path):
    """msgfmt --check: the header, plural forms and python-format strings, by gettext's rules."""
    out = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(out), str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "fuzzy" not in result.stderr, result.stderr
    assert "untranslated" not in result.stderr, result.stderr
    assert _mo_catalogue(out) == _mo_catalogue(MO), f"run: {COMPILE}"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext's xgettext is missing")
def test_every_translatable_string_in_the_sources_is_in_the_catalogue(tmp_path, monkeypatch):
    """makemessages on a copy of the package: nothing it finds is missing from the .po."""
    copy = tmp_path / "pems"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "__pycache__"))
    locale = tmp_path / "locale"
    locale.mkdir()
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[locale]):
        call_command(
            "makemessages", locale=["zh_Hans"], keep_pot=True, no_location=True, verbosity=0
        )
    found = {(e.msgctxt, e.msgid) for e in parse_po(locale / "django.pot") if e.msgid != ""}
    known = {(e.msgctxt, e.msgid) for e in parse_po(PO)}
    missing = sorted(msgid for _, msgid in found - known if msgid is not None)
    assert not missing, f"not in {PO.name} (run: {REGENERATE}, then translate): {missing}"
