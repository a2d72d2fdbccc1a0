"""Keep-power periods (保电时段) set by a person: added and removed, each change audited.

A period is a site's policy, like its tariffs: while one is in force the
prepaid policy trips no meter for lack of credit and closes one it tripped
(:mod:`pems.billing.policy`); the next settle pass acts on it. The console, the
API and the admin all change periods through here (the admin through its
audited mixin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from django.db import transaction

from pems.audit.log import diff, record, snapshot
from pems.billing.models import KeepPowerPeriod
from pems.inventory.models import Site


@dataclass(frozen=True)
class PeriodSpec:
    """What a person gives for a new period (``start == end``: the whole day)."""

    start: time
    end: time
    on_workdays: bool = True
    on_weekends: bool = True
    on_holidays: bool = True
    reason: str = ""


@transaction.atomic
def add_period(site: Site, spec: PeriodSpec, actor: Any) -> KeepPowerPeriod:
    """Store a new period for ``site``; a period with no kind of day ticked is refused.

    Raises :class:`django.core.exceptions.ValidationError` naming the field, and
    writes nothing, for a refused period.
    """
    period = KeepPowerPeriod(
        site=site,
        start=spec.start,
        end=spec.end,
        on_workdays=spec.on_workdays,
        on_weekends=spec.on_weekends,
        on_holidays=spec.on_holidays,
        reason=spec.reason.strip(),
    )
    period.full_clean()
    period.save()
    record(actor, "create", period, diff({}, snapshot(period)), period.reason)
    return period


@transaction.atomic
def remove_period(period: KeepPowerPeriod, actor: Any, reason: str = "") -> None:
    """Delete ``period``; the audit log keeps what it was.

    The row is locked first, so two people removing it at once remove it once:
    the second gets :class:`KeepPowerPeriod.DoesNotExist` (as does a period
    that is not the site's).
    """
    locked = KeepPowerPeriod.objects.select_for_update().get(pk=period.pk, site=period.site_id)
    record(actor, "delete", locked, diff(snapshot(locked), {}), reason.strip())
    locked.delete()
