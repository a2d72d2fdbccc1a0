"""The NinjaAPI instance: authentication, error shape, and one router per area."""

from __future__ import annotations

from ninja import NinjaAPI, Swagger

from pems.api import errors
from pems.api.auth import AUTH
from pems.api.routers import (
    account_closure,
    account_settings,
    accounts,
    commands,
    events,
    gateways,
    meter_credit,
    meters,
    point_replacement,
    points,
    readings,
    recharges,
    refunds,
    sites,
    tariffs,
    tenants,
)

api = NinjaAPI(
    title="PEMS API",
    version="1",
    description=(
        "Prepaid energy management: inventory, live readings, tenants, accounts, sales and "
        "meter commands. Authenticate with `Authorization: Bearer <token>` (`pems token "
        "create`). Money and energy are decimal strings. Errors: "
        '`{"errors": [{"field": …, "message": …}]}`. See docs/api.md.'
    ),
    auth=AUTH,
    # validatorUrl off: Swagger UI would otherwise ask validator.swagger.io (no internet here).
    docs=Swagger(settings={"persistAuthorization": False, "validatorUrl": None}),
    urls_namespace="api",
)
errors.install(api)

for prefix, module in [
    ("/sites", sites),
    ("/gateways", gateways),
    ("/meters", meters),
    ("/points", points),
    ("/points", point_replacement),
    ("/readings", readings),
    ("/tenants", tenants),
    ("/accounts", accounts),
    ("/accounts", meter_credit),
    ("/accounts", account_settings),
    ("/accounts", account_closure),
    ("/tariffs", tariffs),
    ("/recharges", recharges),
    ("/refunds", refunds),
    ("/commands", commands),
    ("/events", events),
]:
    api.add_router(prefix, module.router)
