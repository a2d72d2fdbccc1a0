"""An operator sees on the dashboard a server-side room whose use is not being charged, and
follows it to the room, on a phone and a desk.

The room's meter was exchanged without recording it: settlement stopped at the old
meter's last reading three hours before the latest one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pems.billing.models import SettlementCursor
from pems.metering.models import PointState
from tests import factories
from tests.browser.conftest import Pages, log_in, shoot
from tests.browser.test_calendar_warning import DESK, PHONE, fits_across
from tests.console.conftest import Plaza

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["phone", "desk"])
def test_the_banner_names_the_room_and_leads_to_it(pages: Pages, plaza: Plaza, viewport) -> None:
    read_at = PointState.objects.get(point=plaza.opened).read_at
    stopped = read_at - dt.timedelta(hours=3)
    SettlementCursor.objects.create(
        account=plaza.account, point=plaza.opened, settled_until=stopped, last_total=Decimal(1)
    )
    factories.staff_user("operator", plaza.site, username="wang.wei")
    page = pages.new()
    page.set_viewport_size(viewport)
    log_in(page, "wang.wei")

    banner = page.locator("#stuck-charging")
    expect(banner).to_be_visible()
    expect(banner.locator("h2")).to_have_text("1 server-side point is not being charged")
    at = timezone.localtime(stopped).strftime("%Y-%m-%d %H:%M")
    item = banner.locator(f"li[data-point='{plaza.opened.pk}']")
    expect(item).to_contain_text(f"charged up to {at}")
    expect(banner).to_contain_text("use Replace the meter on the room's page")
    assert fits_across(page, "#stuck-charging")
    if viewport == DESK:
        shoot(page, "18-stuck-charging", element="#stuck-charging")

    item.get_by_role("link").click()
    expect(page.get_by_test_id("charged-until")).to_contain_text(at)
    expect(page.get_by_test_id("charging-stuck")).to_be_visible()
    expect(page.locator("#action-replace")).to_be_visible()
