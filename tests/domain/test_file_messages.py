"""Tariff and usage file problems are English templates with values, translated where shown.

``pems.domain`` has no gettext: each problem keeps its marked template and its
values, ``str()`` is English, and a ``translate`` function (gettext at the Django
boundary) is applied to every template before the values fill it in.
"""

from __future__ import annotations

import inspect
import sys
import tomllib
from collections.abc import Iterator

import pytest

from pems.domain._toml import WORDINGS
from pems.domain.errors import FileFormatError, FileProblem, TariffFileError, UsageFileError
from pems.domain.messages import Message
from pems.domain.tariff_file import load_tariff
from pems.domain.usage_file import load_usage
from tests.domain.test_files import GOOD_VERSION, HEADER
from tests.messages import PO, django_loaded_by, untranslated

#: A stand-in catalogue: proves each template goes through ``translate`` before formatting.
PSEUDO = {
    "%(source)s: %(count)s problem(s):": "%(source)s — %(count)s souci(s) :",
    "%(field)s: %(problem)s": "%(field)s — %(problem)s",
    "row %(row)s, column %(column)s: %(problem)s": "ligne %(row)s, col. %(column)s — %(problem)s",
    "version '%(version)s': %(problem)s": "version « %(version)s » — %(problem)s",
    "no price for rate(s) %(rates)s": "pas de prix pour %(rates)s",
    "'%(value)s' is not a number": "[%(value)s : pas un nombre]",
    "%(value)s is not a time (HH:MM)": "[%(value)s : pas une heure]",
}


def pseudo(template: str) -> str:
    return PSEUDO.get(template, template)


def tariff_problems(text: str) -> tuple[FileProblem, ...]:
    with pytest.raises(TariffFileError) as caught:
        load_tariff(text, "t.toml")
    return caught.value.problems


def usage_problems(text: str) -> tuple[FileProblem, ...]:
    with pytest.raises(UsageFileError) as caught:
        load_usage(text, "u.csv")
    return caught.value.problems


def test_a_problem_keeps_its_path_template_and_values_and_reads_english() -> None:
    text = HEADER + GOOD_VERSION.replace('"08:00", end = "24:00"', '"8 am", end = "24:00"')
    (problem,) = tariff_problems(text)
    assert (problem.row, problem.field) == (0, "versions[0].tou.periods[1].start")
    assert problem.template == "%(value)s is not a time (HH:MM)"
    assert dict(problem.params) == {"value": "8 am"}
    assert problem.message == "8 am is not a time (HH:MM)"
    assert str(problem) == "versions[0].tou.periods[1].start: 8 am is not a time (HH:MM)"
    assert problem.describe(pseudo) == "versions[0].tou.periods[1].start — [8 am : pas une heure]"


def test_a_domain_objects_problem_is_translated_inside_and_out() -> None:
    """TariffVersion wraps its problem in ``version 'a': …``; the reader puts it at the path."""
    (problem,) = tariff_problems(HEADER + GOOD_VERSION.replace("flat = 0.5,", ""))
    assert str(problem) == "versions[0]: no price for rate(s) flat"
    assert problem.describe(pseudo) == "versions[0] — pas de prix pour flat"


def test_a_usage_problem_names_row_and_column_in_the_translation() -> None:
    (problem,) = usage_problems("timestamp,total_kwh\n2025-01-01T00:00Z,abc\n")
    assert (problem.row, problem.field) == (2, "total_kwh")
    assert str(problem) == "row 2, column total_kwh: 'abc' is not a number"
    assert problem.describe(pseudo) == "ligne 2, col. total_kwh — [abc : pas un nombre]"


def test_values_are_shown_as_the_file_has_them_never_read_as_placeholders() -> None:
    (problem,) = usage_problems("timestamp,total_kwh\n2025-01-01T00:00Z,%(row)s 100%\n")
    assert problem.describe(pseudo) == "ligne 2, col. total_kwh — [%(row)s 100% : pas un nombre]"
    plain = Message("made elsewhere, 100% as it is")  # no values: never %-formatted
    assert plain.text(pseudo) == "made elsewhere, 100% as it is"


def test_the_summary_line_is_translated_too() -> None:
    error = FileFormatError(
        "u.csv", [FileProblem.of(3, "kwh", "'%(value)s' is not a number", value="x")]
    )
    assert str(error) == "u.csv: 1 problem(s):\n  row 3, column kwh: 'x' is not a number"
    assert error.describe(pseudo).splitlines() == [
        "u.csv — 1 souci(s) :",
        "  ligne 3, col. kwh — [x : pas un nombre]",
    ]


def test_a_toml_syntax_error_gives_its_position_and_our_wording() -> None:
    (problem,) = tariff_problems('name = "t"\nprices = [1,\n')
    assert str(problem).startswith("not valid TOML at ")
    (unknown,) = tariff_problems("[t]\na = 1\n[t]\n")  # a wording we do not map: as tomllib says
    assert str(unknown) == "not valid TOML at line 3, column 3: Cannot declare ('t',) twice"


def test_every_toml_wording_we_translate_is_one_tomllib_writes() -> None:
    """If a Python release rewords one, it would silently stay English: fail here instead."""
    source = inspect.getsource(sys.modules[tomllib.loads.__module__])
    assert [w for w in WORDINGS if f'"{w}"' not in source] == []


def _with(*edits: tuple[str, str]) -> str:
    """The good one-version tariff with ``(old, new)`` text replacements."""
    text = HEADER + GOOD_VERSION
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


#: Where a version's own fields and its TOU plan's tables go in GOOD_VERSION.
FIELDS = ("\n[versions.tou]", "\n{}\n[versions.tou]")
PLAN = ("[versions.tou]\nperiods", "{}\n[versions.tou.days.n]\nperiods")
SEASON = '[[versions.tou.seasons]]\nname = "{}"\nfrom = "{}"\nto = "{}"\nworkday = "n"\n'
DEFAULT = '[versions.tou.default]\nworkday = "n"\n'


def _field(text: str) -> tuple[str, str]:
    return (FIELDS[0], FIELDS[1].format(text))


def _plan(text: str) -> tuple[str, str]:
    return (PLAN[0], PLAN[1].format(text))


def _tariff_texts() -> Iterator[str]:
    """Tariff files with every kind of problem the reader and the domain objects report."""
    yield 'x = "abc'  # unterminated at the end of the file
    for toml in (
        "x = [1 2]",
        "x = ",
        "x = 2025-02-30",
        "x = 2025-13-01",
        "a = 1\na = 2",
        'x = 1\n"a" b = 2',
        "[t",
        "[[t]",
        "x = {a = 1",
        "= 1",
    ):
        yield toml + "\n"
    yield 'name = "t"\ntimezone = "Mars/X"\ncurrency = "XYZ"\nunit = "litre"\nbilling_cycle = 1\n'
    yield HEADER + "versions = 3\ncalendar = 5\n"
    yield HEADER + "versions = []\n"
    yield HEADER + '[calendar]\nholidays = ["2025-02-30"]\nweekends = 1\nx = 1\n' + GOOD_VERSION
    yield HEADER + '[calendar]\nchinese_holidays = "y"\n' + GOOD_VERSION
    yield _with() + GOOD_VERSION
    yield _with() + GOOD_VERSION.replace('id = "a"', 'id = "b"')
    yield _with(("2025-01-01", '"2025-01-01Tx"'), ("flat = 0.5", 'flat = "x"'))
    yield _with(('id = "a"', "id = 5"), ("2025-01-01", "5"), ("flat = 0.5", "flat = -1"))
    yield _with(("flat = 0.5", "flat = true"))
    yield _with(("flat = 0.5", "flat = 0.5, cheap = 1"))
    yield _with(("flat = 0.5,", ""))
    yield _with(_field("service_fee_ratio = 1"))
    yield _with(_field("fixed = 5"))
    for tiers in (
        "[]",
        "5",
        "[{up_to = 10, surcharge = 0}, {up_to = 5, surcharge = 0}, {surcharge = 1}]",
        "[{surcharge = 0}, {up_to = 5, surcharge = 0}]",
        "[{up_to = 5, surcharge = 0}]",
    ):
        yield _with(_field(f"tiers = {tiers}"))
    for charge in (
        'amount = 0.505, per = "day"',
        'amount = 1e40, per = "day"',
        "amount = 1, per = 1",
    ):
        yield _with(_field(f'fixed = [{{name = "r", {charge}}}]'))
    yield _with(('"08:00", end = "24:00"', '"25:00", end = "24:00"'))
    yield _with(('end = "24:00"', 'end = "09:00"'))
    yield _with(('"08:00", end', "08:00:00.5, end"), ('end = "08:00"', "end = 08:00:00.5"))
    yield (
        HEADER
        + '[[versions]]\nid = "a"\neffective_from = 2025-01-01\nprices = {flat = 1}\n'
        + ("[versions.tou]\nperiods = 5\n")
    )
    yield _with(("{ start", '{ start = "00:00", end = "00:00", rate = "flat" },' * 14 + "{ start"))
    yield _with(_plan(""))
    yield _with(_plan(DEFAULT + 'weekend = ["x"]\n'))
    yield _with(_plan(DEFAULT + SEASON.format("s", "13-01", "02-30")))
    yield _with(
        _plan(DEFAULT + SEASON.format("s", "01-01", "03-01") + SEASON.format("u", "02-01", "04-01"))
    )


def _usage_texts() -> Iterator[str]:
    yield ""
    yield "when,kwh\n"
    yield "timestamp,total_kwh,foo\n"
    yield (
        "timestamp,total_kwh\n2025-01-01T00:00,1\n,\nx,1\n"
        "2025-01-01T00:00Z,abc\n2025-01-01T00:00Z,-1\n"
    )
    yield (
        "timestamp,total_kwh,peak\n2025-01-01T00:00Z,5\n"
        "2025-01-01T00:00Z,5,1\n2025-01-01T00:00Z,4,0\n"
    )
    yield (
        "start,end,kwh\n2025-01-01T00:00Z,2025-01-01T00:00Z,1\n"
        "2025-01-01T00:00Z,2025-01-01T02:00Z,1\n2025-01-01T01:00Z,2025-01-01T03:00Z,1\n"
    )


def _every_template() -> set[str]:
    """Every template a translation is asked for while the errors are described."""
    asked: set[str] = set()

    def record(template: str) -> str:
        asked.add(template)
        return template

    for read, texts in ((load_tariff, _tariff_texts()), (load_usage, _usage_texts())):
        for text in texts:
            with pytest.raises(FileFormatError) as caught:
                read(text)
            caught.value.describe(record)
    return asked


def test_every_problem_the_readers_make_is_translated_in_the_catalogue() -> None:
    """An unmarked message (an f-string, say) would be missing here."""
    templates = _every_template()
    assert len(templates) >= 65, sorted(templates)
    missing = untranslated(templates)
    assert not missing, f"not translated in {PO.name}: {missing}"


def test_the_domain_still_imports_no_django() -> None:
    """What lint-imports enforces, seen from a fresh interpreter: translation stays outside."""
    assert django_loaded_by("pems.domain, pems.domain.tariff_file, pems.domain.usage_file") == []
