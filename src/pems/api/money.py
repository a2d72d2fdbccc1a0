"""Amounts in requests: a decimal string and a currency, checked against the site's."""

from __future__ import annotations

from django.utils.translation import gettext as _

from pems.api.errors import ApiError
from pems.domain.errors import CurrencyError, PrecisionError
from pems.domain.money import Money
from pems.inventory.models import Site


def money_of(amount: str, currency: str, site: Site, within: str = "") -> Money:
    """A positive amount in the site's currency, or a 422 naming ``amount`` or ``currency``.

    ``within`` prefixes those names for a nested object (``"first_purchase."``).
    """
    if currency != site.currency:
        raise ApiError(
            422,
            _("%(site)s sells in %(expected)s, not %(given)s.")
            % {"site": site.name, "expected": site.currency, "given": currency},
            within + "currency",
        )
    try:
        money = Money.of(amount, currency)
    except CurrencyError as exc:
        raise ApiError(422, str(exc), within + "currency") from exc
    except PrecisionError as exc:
        raise ApiError(
            422,
            _("%(amount)s has more decimals than %(currency)s allows.")
            % {"amount": amount, "currency": currency},
            within + "amount",
        ) from exc
    if money.amount <= 0:
        raise ApiError(422, _("The amount must be positive."), within + "amount")
    return money
