"""An operator scoped to one site cannot see another site's rooms, by page or by API."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.conftest import Pages, log_in
from tests.console.conftest import Plaza

pytestmark = pytest.mark.browser


def fetch_json(page: Page, path: str) -> dict[str, Any]:
    """GET ``path`` from inside the page, with the console's own session cookie."""
    answer: dict[str, Any] = page.evaluate(
        """async (path) => {
            const response = await fetch(path, {headers: {Accept: "application/json"}});
            return {status: response.status, body: await response.json()};
        }""",
        path,
    )
    return answer


def test_an_operator_of_one_site_cannot_reach_another_sites_rooms(
    pages: Pages, plaza: Plaza
) -> None:
    factories.staff_user("operator", plaza.site, username="chen.jie")
    north = [plaza.opened, plaza.arrears, plaza.empty, plaza.offline, plaza.meter_side]
    far = plaza.elsewhere  # room B201 of the South Plaza, tenant "Far Away Shop"
    page = pages.new()
    log_in(page, "chen.jie")

    # Not on the dashboard, not in the grid, not found by searching.
    expect(page.locator("#today-table tbody tr")).to_have_count(1)
    expect(page.locator("#today-table")).to_contain_text("North Plaza")
    expect(page.locator("#today-table")).not_to_contain_text("South Plaza")
    page.click("#nav-monitor")
    expect(page.locator("#tiles .tile")).to_have_count(len(north))
    expect(page.get_by_test_id(f"tile-{far.pk}")).to_have_count(0)
    expect(page.locator("#filter-site")).to_have_count(0)  # one site: nothing to pick
    for words in ["B201", "Far Away Shop", far.meter.number]:
        page.fill("#filter-q", words)
        page.press("#filter-q", "Enter")
        expect(page.locator("#tiles .empty")).to_have_text("No metering point matches.")
    tiles = fetch_json(page, f"/console/monitor/tiles.json?site={plaza.other_site.pk}")
    assert tiles["status"] == 200
    assert far.pk not in {t["id"] for t in tiles["body"]["tiles"]}

    # Not by typing its address: the room page and its actions do not exist for this person.
    for path in [
        f"/console/points/{far.pk}/",
        f"/console/points/{far.pk}/relay/trip/",
        f"/console/points/{far.pk}/live.json",
    ]:
        pages.problems.expect_refusal(path)
        response = page.goto(path)
        assert response is not None
        assert response.status == 404, path
        expect(page.locator("body")).not_to_contain_text("Far Away Shop")
        expect(page.locator("body")).not_to_contain_text("B201")

    # Nor through the API with the same login.
    page.goto("/console/")
    own = fetch_json(page, f"/api/points/{plaza.opened.pk}")
    assert own["status"] == 200  # the API answers this login …
    assert own["body"]["id"] == plaza.opened.pk
    pages.problems.expect_refusal(f"/api/points/{far.pk}")
    other = fetch_json(page, f"/api/points/{far.pk}")
    assert other["status"] == 404
    assert "Far Away Shop" not in str(other["body"])
    listed = fetch_json(page, "/api/points?limit=500")
    assert listed["status"] == 200
    assert {p["id"] for p in listed["body"]["items"]} == {p.pk for p in north}
    assert listed["body"]["count"] == len(north)
    filtered = fetch_json(page, f"/api/points?site={plaza.other_site.pk}")
    assert filtered["body"] == {"items": [], "count": 0}
