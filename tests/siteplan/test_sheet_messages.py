"""Sheet problems are English templates with values, translated where they are shown.

``pems.siteplan`` has no gettext: each problem keeps its marked template and its
values, ``str()`` is English, and a ``translate`` function (gettext at the Django
boundary) is applied to the template before the values fill it in.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pems.siteplan import COLUMNS, SheetError, SheetIssue, read_csv, read_sheet
from pems.siteplan.errors import gettext_noop
from tests.messages import PO, django_loaded_by, untranslated
from tests.siteplan.test_sheet_errors import CELL_CASES, csv_text, find_row, rows_of

#: A stand-in catalogue: proves the template goes through ``translate`` before formatting.
PSEUDO = {
    "'%(value)s' is not a whole number": "[%(value)s: pas un entier]",
    "row %(row)s, column %(column)s: %(problem)s": "ligne %(row)s, col. %(column)s — %(problem)s",
    "site plan sheet rejected, %(count)s problem(s):": "feuille refusée (%(count)s) :",
    "… and %(count)s more": "… et %(count)s de plus",
}


def pseudo(template: str) -> str:
    return PSEUDO.get(template, template)


def rejected(rows: list[dict[str, str]], columns: list[str] | None = None) -> SheetError:
    with pytest.raises(SheetError) as caught:
        read_csv(io.StringIO(csv_text(rows, columns or list(COLUMNS))))
    return caught.value


def test_an_issue_keeps_its_template_and_values_and_reads_english() -> None:
    rows = rows_of("plaza")
    rows[3]["meter_address"] = "x1"
    (issue,) = rejected(rows).issues
    assert (issue.row, issue.column) == (5, "meter_address")
    assert issue.template == "'%(value)s' is not a whole number"
    assert dict(issue.params) == {"value": "x1"}
    assert issue.message == "'x1' is not a whole number"
    assert str(issue) == "row 5, column meter_address: 'x1' is not a whole number"
    assert issue.describe(pseudo) == "ligne 5, col. meter_address — [x1: pas un entier]"
    assert issue.describe(quote_column=True).startswith("row 5, column 'meter_address': ")


def test_values_are_shown_as_the_sheet_has_them_never_read_as_placeholders() -> None:
    rows = rows_of("plaza")
    rows[3]["meter_address"] = "%(row)s 一号"
    (issue,) = rejected(rows).issues
    assert issue.describe(pseudo) == "ligne 5, col. meter_address — [%(row)s 一号: pas un entier]"


@pytest.mark.parametrize(
    ("issue", "english"),
    [
        (SheetIssue(0, None, gettext_noop("the sheet has no metering points")), "sheet: the sheet"),
        (SheetIssue(3, None, "text made elsewhere, 100% as it is"), "row 3: text made elsewhere"),
        (SheetIssue(0, "site", "x"), "sheet, column site: x"),
    ],
)
def test_where_a_problem_is_reads_right_without_a_row_or_a_column(
    issue: SheetIssue, english: str
) -> None:
    assert str(issue).startswith(english)


def test_the_summary_and_the_tail_are_translated_too() -> None:
    issues = [
        SheetIssue.of(n, "room", "'%(value)s' is not a whole number", value=n) for n in range(2, 54)
    ]
    error = SheetError(issues)
    assert str(error).splitlines()[0] == "site plan sheet rejected, 52 problem(s):"
    lines = error.describe(pseudo).splitlines()
    assert lines[0] == "feuille refusée (52) :"
    assert lines[1] == "  ligne 2, col. room — [2: pas un entier]"
    assert lines[-1] == "  … et 2 de plus"
    assert len(lines) == 1 + 50 + 1


#: Cell cases not in CELL_CASES: (plan, gateway, address, column, bad value).
MORE_CELLS = [
    ("plaza", "GW-S1", "2", "gateway_host", "10.0.0.1 x"),
    ("mixed", "GW-D", "123456781012", "meter_address", "999999999999"),
]


def _every_kind_of_problem(tmp_path: Path) -> list[SheetIssue]:
    """Issues from every cell case, each whole-sheet check and the unreadable files."""
    found: list[SheetIssue] = []
    for plan, gateway, address, column, value, *_ in CELL_CASES + MORE_CELLS:
        rows = rows_of(plan)
        rows[find_row(rows, gateway, address)][column] = value
        found += rejected(rows).issues
    rows = rows_of("plaza")
    rows[5]["meter_address"] = rows[2]["meter_address"]
    rows[9]["meter_number"] = rows[1]["meter_number"]
    rows[10]["site"] = "Other plaza"
    rows[30]["baud"] = "19200"
    found += rejected(rows).issues
    rows = rows_of("plaza")
    for row in rows:
        if row["gateway"] == "GW-S2":
            row["gateway_port"] = "15020"
    found += rejected(rows).issues
    rows = rows_of("mixed")
    [r for r in rows if r["box"] == "ADF-1"][2]["circuit"] = "4"
    [r for r in rows if r["box"] == "ADF-2"][1]["meter_address"] = "40"
    found += rejected(rows).issues
    rows = rows_of("mixed")
    next(r for r in rows if r["box"] == "ADF-1")["gateway"] = "GW-A"
    found += rejected(rows).issues
    box = next(r for r in rows_of("mixed") if r["box"] == "ADF-1")
    big = [
        {**box, "meter_address": str(n), "meter_number": f"{9 * 10**11 + n}", "circuit": str(n)}
        for n in range(1, 14)
    ]
    found += rejected([{**row, "phases": "3"} for row in big]).issues
    found += rejected(rows_of("plaza")[:2], [*COLUMNS[1:], "notes", "notes"]).issues
    found += rejected([]).issues
    (tmp_path / "junk.xlsx").write_bytes(b"not a zip")
    for path in (tmp_path / "junk.xlsx", tmp_path / "plan.ods"):
        with pytest.raises(SheetError) as caught:
            read_sheet(path)
        found += caught.value.issues
    return found


def test_every_problem_the_reader_makes_is_translated_in_the_catalogue(tmp_path: Path) -> None:
    """An unmarked message (an f-string, say) would be missing here."""
    found = _every_kind_of_problem(tmp_path)
    templates = {issue.template for issue in found}
    assert len(templates) >= 34, sorted(templates)
    missing = untranslated(templates)
    assert not missing, f"not translated in {PO.name}: {missing}"


def test_the_sheet_reader_still_imports_no_django() -> None:
    """What lint-imports enforces, seen from a fresh interpreter: translation stays outside."""
    assert django_loaded_by("pems.siteplan") == []
