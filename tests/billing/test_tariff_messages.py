"""A refused tariff document's problems, rendered with Django's gettext in the active language.

``pems.domain`` gives each problem as a field path plus an English template and
its values; whoever shows a ``TariffFileError`` to a person renders it with
``problem.describe(gettext)``. Here through the real zh-Hans catalogue.
"""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext

from pems.billing.models import Tariff
from pems.billing.tariffs import create_tariff, revise_tariff
from pems.domain.errors import TariffFileError
from tests.billing.scenarios import flat_tariff_document
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

#: A tariff file with five problems, each named by its field path.
BAD = """
name = "Plaza"
timezone = "Asia/Shanghai"
billing_cycle = "week"

[[versions]]
id = "2026"
effective_from = 2026-01-01
prices = { peak = 1.1, valley = -0.3 }
tiers = [{ surcharge = 0 }, { up_to = 100, surcharge = 0.05 }]

[versions.tou.days.normal]
periods = [
    { start = "00:00", end = "08:00", rate = "valley" },
    { start = "08:00", end = "25:00", rate = "peak" },
]
"""

#: (field path, Simplified Chinese, English) in the order the reader reports them.
PROBLEMS = [
    (
        "billing_cycle",
        "str 'week' 不是以下值之一：month, year",
        "str 'week' is not one of month, year",
    ),
    ("versions[0].prices.valley", "-0.3 低于最小值 0", "-0.3 is below the minimum 0"),
    (
        "versions[0].tou.days.normal.periods[1].end",
        "25:00 不是时间（HH:MM）",
        "25:00 is not a time (HH:MM)",
    ),
    (
        "versions[0].tou.default.workday",
        "缺少必填字段（请填写 tou.days 中定义的日程名）",
        "required field is missing (name a day in tou.days)",
    ),
    (
        "versions[0].tiers[0].up_to",
        "只有最后一个阶梯可以不设上限",
        "only the last tier may be open-ended",
    ),
]


def refused(document: str, language: str) -> tuple[str, list[str]]:
    """The summary and the problem lines of a refused ``create_tariff``, in ``language``."""
    site = SiteFactory()
    with translation.override(language), pytest.raises(TariffFileError) as caught:
        create_tariff(site, "Plaza TOU", document, "manager")
    with translation.override(language):
        summary, *lines = caught.value.describe(gettext).splitlines()
    return summary, lines


@pytest.mark.parametrize(
    ("language", "index", "summary", "colon"),
    [
        ("zh-hans", 1, "Plaza TOU：共 5 个问题：", "："),
        ("en", 2, "Plaza TOU: 5 problem(s):", ": "),
    ],
)
def test_every_problem_is_shown_with_its_field_path_in_the_readers_language(
    language: str, index: int, summary: str, colon: str
) -> None:
    shown_summary, lines = refused(BAD, language)
    assert shown_summary == summary
    assert lines == [f"  {p[0]}{colon}{p[index]}" for p in PROBLEMS]
    assert not Tariff.objects.exists()


def test_a_problem_a_domain_object_finds_is_translated_too() -> None:
    """TariffVersion's own check (every rate used needs a price) comes through its wrapper."""
    document = flat_tariff_document().replace("flat =", "peak =")
    _, lines = refused(document, "zh-hans")
    assert lines == ["  versions[0]：缺少费率 flat 的电价"]


def test_a_revision_is_refused_in_the_readers_language_and_changes_nothing() -> None:
    tariff = create_tariff(SiteFactory(), "Flat", flat_tariff_document(), "manager")
    with translation.override("zh-hans"), pytest.raises(TariffFileError) as caught:
        revise_tariff(tariff, 'name = "x"\n[[versions]\n', "manager", "typo")
    with translation.override("zh-hans"):
        (problem,) = (p.describe(gettext) for p in caught.value.problems)
    assert problem == "不是有效的 TOML（第 2 行第 11 列）：数组表声明的末尾应为“]]”"
    tariff.refresh_from_db()
    assert tariff.document == flat_tariff_document()
