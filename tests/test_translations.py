"""The Simplified Chinese catalogue is complete, well-formed, compiled and up to date.

Regenerate and compile it from the package directory, so that only PEMS's own
sources are scanned (not tests/, bench/ or examples/)::

    cd src/pems
    pems makemessages -l zh_Hans --no-location
    # translate every new or fuzzy entry in locale/zh_Hans/LC_MESSAGES/django.po
    pems compilemessages -l zh_Hans

The .po is read with polib; the .mo with the standard library's
:class:`gettext.GNUTranslations`, so each side is checked by a reader of its own.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import polib
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


def parse_po(path: Path) -> polib.POFile:
    """A .po or .pot file; duplicate entries are an error."""
    return polib.pofile(str(path), check_for_duplicates=True)


def live(po: polib.POFile) -> list[polib.POEntry]:
    """The entries in use: obsolete ``#~`` ones left out (polib keeps no header entry)."""
    return [e for e in po if not e.obsolete]


def translated(e: polib.POEntry) -> bool:
    """Every form has a translation (fuzzy or not: that is checked on its own)."""
    if e.msgid_plural:
        return bool(e.msgstr_plural) and all(e.msgstr_plural.values())
    return bool(e.msgstr)


def forms(e: polib.POEntry) -> dict[int, str]:
    """The translation by plural index (a singular entry has the one form 0)."""
    return dict(e.msgstr_plural) if e.msgid_plural else {0: e.msgstr}


def name(e: polib.POEntry) -> str:
    context = f" (context {e.msgctxt!r})" if e.msgctxt is not None else ""
    return f"line {e.linenum}: {e.msgid!r}{context}"


@pytest.fixture(scope="module")
def catalogue() -> list[polib.POEntry]:
    """The zh_Hans entries in use."""
    return live(parse_po(PO))


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    assert len(catalogue) > 300, "the catalogue looks truncated"
    untranslated = [name(e) for e in catalogue if not translated(e)]
    fuzzy = [name(e) for e in catalogue if e.fuzzy]
    assert not untranslated, f"untranslated in {PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy (review, then drop the flag) in {PO.name}: {fuzzy}"


def test_plural_entries_have_the_one_form_chinese_has(catalogue):
    assert parse_po(PO).metadata.get("Plural-Forms", "").startswith("nplurals=1; plural=0;")
    wrong = [name(e) for e in catalogue if e.msgid_plural and set(e.msgstr_plural) != {0}]
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
        for text in forms(e).values():
            # nplurals=1: the one form may follow either the singular or the plural msgid.
            sources = [s for s in (e.msgid, e.msgid_plural) if s]
            if placeholders(text) not in [placeholders(s) for s in sources]:
                found, wanted = dict(placeholders(text)), dict(placeholders(sources[0]))
                wrong.append(f"{name(e)}: {wanted} ≠ {found}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_catalogue_keeps_its_terms(catalogue):
    """The trade's words, once chosen, everywhere (see NOT_OUR_TERMS)."""
    wrong = [
        f"{name(e)}: {text!r} uses {term}; use {instead}"
        for e in catalogue
        for text in forms(e).values()
        for term, instead in NOT_OUR_TERMS.items()
        if term in text
    ]
    assert not wrong, "\n".join(wrong)


def _expected_mo_catalogue(entries: list[polib.POEntry]) -> dict[object, str]:
    """What msgfmt puts in the .mo: translated, non-fuzzy entries (header left out)."""
    expected: dict[object, str] = {}
    for e in entries:
        if e.fuzzy or not translated(e):
            continue
        key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt is not None else e.msgid
        if e.msgid_plural:
            expected.update({(key, index): text for index, text in forms(e).items()})
        else:
            expected[key] = e.msgstr
    return expected


def _mo_catalogue(path: Path) -> dict[object, str]:
    with path.open("rb") as handle:
        translations = gettext.GNUTranslations(handle)
    return {key: text for key, text in translations._catalog.items() if key != ""}  # type: ignore[attr-defined]


def test_the_compiled_catalogue_matches_the_po():
    expected = _expected_mo_catalogue(live(parse_po(PO)))
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
    found = {(e.msgctxt, e.msgid) for e in live(parse_po(locale / "django.pot"))}
    known = {(e.msgctxt, e.msgid) for e in live(parse_po(PO))}
    missing = sorted(
        f"{msgid!r} (context {context!r})" if context else repr(msgid)
        for context, msgid in found - known
    )
    assert not missing, f"not in {PO.name} (run: {REGENERATE}, then translate): {missing}"
