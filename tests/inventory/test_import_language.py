"""The importer's problems in the reader's language: the sheet reader's and its own.

``pems.siteplan`` gives English templates with values; the importer's report and
``pems import`` render them with gettext in the active language.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from pems.inventory.importer import import_sheet
from pems.inventory.models import Meter, Site
from pems.inventory.models.catalogue import sync_catalogue
from pems.siteplan import mixed, write_sheet
from pems.siteplan.sheet import plan_rows
from tests.factories import GatewayFactory, MeterFactory, SiteFactory
from tests.inventory.test_import import write_rows

pytestmark = pytest.mark.django_db

MODELS = "DTSY1352-NK, DDSY1352-NK, ADF300, WATER-VALVE, DLT645-GENERIC"

#: (row, column, Simplified Chinese, English), in the order the report lists them.
PROBLEMS = [
    (
        4,
        "meter_address",
        "表地址 2 在网关“GW-A”上已被第 3 行使用",
        "address 2 is already used on gateway 'GW-A' by row 3",
    ),
    (5, "model", f"“电表-9”不是以下值之一：{MODELS}", f"'电表-9' is not one of: {MODELS}"),
    (6, "gateway_port", "70000 超出范围 1–65535", "70000 is outside 1–65535"),
    (7, "area", "不能为空", "is required"),
]


@pytest.fixture
def mixed_site(db) -> Site:
    sync_catalogue()
    return SiteFactory(name="Mixed")


@pytest.fixture
def bad_sheet(tmp_path: Path, mixed_site: Site) -> Path:
    rows = list(plan_rows(mixed()))
    rows[2]["meter_address"] = rows[1]["meter_address"]
    rows[3]["model"] = "电表-9"  # a value from the sheet is shown as it is
    rows[4]["gateway_port"] = "70000"
    rows[5]["area"] = ""
    return write_rows(tmp_path / "bad.csv", rows)


@pytest.mark.parametrize(("language", "index"), [("zh-hans", 2), ("en", 3)])
def test_every_sheet_problem_is_in_the_readers_language(mixed_site, bad_sheet, language, index):
    with translation.override(language):
        report = import_sheet(bad_sheet, mixed_site, "installer")
        shown = [(issue.row, issue.column, text) for issue, text in report.problems]
    assert shown == [(p[0], p[1], p[index]) for p in PROBLEMS]
    assert not Meter.objects.exists()


def test_a_problem_the_importer_finds_itself_keeps_its_language(tmp_path, mixed_site):
    """Made in the active language by the importer, it passes gettext unchanged."""
    MeterFactory(gateway=GatewayFactory(site=SiteFactory(name="Elsewhere")), number="240200000003")
    write_sheet(mixed(), tmp_path / "mixed.csv")
    with translation.override("zh-hans"):
        report = import_sheet(tmp_path / "mixed.csv", mixed_site, "installer")
        shown = [(issue.row, issue.column, text) for issue, text in report.problems]
    assert shown == [
        (4, "meter_number", "电表 240200000003 已安装在站点 Elsewhere：请先在该站点拆除")
    ]


def test_the_command_lists_problems_and_its_summary_in_the_active_language(bad_sheet):
    err = io.StringIO()
    with (
        translation.override("zh-hans"),
        pytest.raises(CommandError, match=r"^bad\.csv 中有 4 个问题：未导入任何数据。$"),
    ):
        call_command("import", str(bad_sheet), site="Mixed", stderr=err)
    assert err.getvalue().splitlines() == [
        f"第 {row} 行，'{column}' 列：{chinese}" for row, column, chinese, _ in PROBLEMS
    ]
