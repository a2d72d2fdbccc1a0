"""Writing a plan's rows as locations, gateways, meters and points, validated and audited."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models
from django.utils.translation import gettext as _

from pems.accounts.models import AccountMeteringPoint
from pems.audit.log import diff, snapshot
from pems.audit.models import AuditEvent
from pems.inventory.choices import LocationKind, Phases
from pems.inventory.importer.report import KINDS, ImportReport, Progress, Tally
from pems.inventory.importer.rows import MeterRows
from pems.inventory.models import Gateway, Location, Meter, MeteringPoint, MeterModel, Site
from pems.siteplan import AreaKind, MeterPoint, SheetIssue

M = TypeVar("M", bound=models.Model)

_AREA_KINDS = {
    AreaKind.BUILDING: LocationKind.BUILDING,
    AreaKind.RISER_SHAFT: LocationKind.SHAFT,
    AreaKind.GARAGE: LocationKind.GARAGE,
}

# Model field → the sheet column its value came from (errors are reported there).
_GATEWAY_COLUMNS = {
    "name": "gateway",
    "host": "gateway_host",
    "port": "gateway_port",
    "protocol": "gateway_protocol",
    "baud": "baud",
    "parity": "parity",
    "location": "area",
    "site": "site",
}
_METER_COLUMNS = {
    "gateway": "gateway",
    "address": "meter_address",
    "address_count": "circuit",
    "number": "meter_number",
    "model": "model",
    "location": "floor",
    "ct_ratio": "ct_ratio",
    "pt_ratio": "pt_ratio",
}
_POINT_COLUMNS = {
    "meter": "meter_number",
    "circuit": "circuit",
    "phases": "phases",
    "utility": "model",
    "fee_control": "fee_control",
    "number": "meter_number",
    "room": "room",
}
_LEVEL_COLUMNS = {0: "area", 1: "floor", 2: "room"}


class Aborted(Exception):
    """The database refused a write: the transaction cannot go on."""


@dataclass
class InventoryWriter:
    """One import's caches, tallies, errors and pending audit events."""

    site: Site
    actor: Any
    reason: str
    tallies: dict[str, Tally] = field(default_factory=lambda: {kind: Tally() for kind in KINDS})
    errors: list[SheetIssue] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)

    def run(self, groups: list[MeterRows], total: int, progress: Progress | None) -> None:
        self._load(groups)
        done = 0
        if progress:
            progress(0, total)
        for group in groups:
            self._import_meter(group)
            done += len(group.points)
            if progress:
                progress(done, total)

    def _load(self, groups: list[MeterRows]) -> None:
        """Everything the sheet could match or collide with, in a handful of queries."""
        site = self.site
        self.locations: dict[tuple[int | None, str], Location | None] = {
            (loc.parent_id, loc.name): loc for loc in Location.objects.filter(site=site)
        }
        self.resolved: set[tuple[int | None, str]] = set()
        self.gateways: dict[str, Gateway | None] = {
            g.name: g for g in Gateway.objects.filter(site=site)
        }
        self.resolved_gateways: set[str] = set()
        self.endpoints = {(g.host, g.port): g.pk for g in Gateway.objects.only("host", "port")}
        self.models = {m.code: m for m in MeterModel.objects.all()}
        installed = Meter.objects.filter(removed_on__isnull=True)
        self.addresses = {
            (gateway, address): pk
            for gateway, address, pk in installed.filter(gateway__site=site).values_list(
                "gateway_id", "address", "pk"
            )
        }
        self.meters: dict[str, Meter] = {}
        numbers = [group.first.meter_number for group in groups]
        for chunk in _chunks(numbers):
            found = installed.filter(number__in=chunk).select_related("gateway__site", "model")
            self.meters.update((m.number, m) for m in found)
        self.points: dict[tuple[int, int], MeteringPoint] = {}
        self.circuits: dict[int, list[int]] = {}
        for chunk in _chunks([m.pk for m in self.meters.values()]):
            for point in MeteringPoint.objects.filter(meter_id__in=chunk):
                self.points[(point.meter_id, point.circuit)] = point
                self.circuits.setdefault(point.meter_id, []).append(point.circuit)
        self.billed: set[int] = set()
        for chunk in _chunks([p.pk for p in self.points.values()]):
            links = AccountMeteringPoint.objects.filter(
                released_at__isnull=True, metering_point_id__in=chunk
            )
            self.billed.update(links.values_list("metering_point_id", flat=True))

    # -- one meter and what it needs ------------------------------------------

    def _import_meter(self, group: MeterRows) -> None:
        gateway = self._gateway(group)
        location = self._location_path(group.row, group.first, depth=2)
        if gateway is None or location is None:
            return  # the gateway's or location's own error is already reported
        meter = self._meter(group, gateway, location)
        if meter is None:
            return
        for circuit, (row, point) in enumerate(group.points, start=1):
            room = self._location_path(row, point, depth=3) if point.location.room else None
            if point.location.room and room is None:
                continue
            self._point(row, point, meter, circuit, room, boxed=point.circuit is not None)

    def _gateway(self, group: MeterRows) -> Gateway | None:
        planned = group.gateway
        if planned.code in self.resolved_gateways:
            return self.gateways.get(planned.code)
        self.resolved_gateways.add(planned.code)
        # A gateway hangs in its meters' area when they all share one.
        areas = {(p.location.area_kind, p.location.area) for p in planned.meters}
        area = None
        if len(areas) == 1:
            area = self._location_path(group.row, planned.meters[0], depth=1)
        values = {
            "host": planned.host,
            "port": planned.port,
            "protocol": planned.protocol.value,
            "baud": planned.serial.baud,
            "parity": planned.serial.parity.value,
            "location": area,
        }
        gateway = self._upsert(
            "gateway",
            self.gateways.get(planned.code),
            lambda: Gateway(site=self.site, name=planned.code),
            values,
            group.row,
            _GATEWAY_COLUMNS,
            "gateway",
        )
        self.gateways[planned.code] = gateway
        return gateway

    def _location_path(self, row: int, point: MeterPoint, depth: int) -> Location | None:
        """Area (depth 1), area → floor (2) or area → floor → room (3), created as needed.

        Each location is validated once per import; a location that failed
        is reported on the first row that needed it only.
        """
        where = point.location
        levels = [
            (_AREA_KINDS[where.area_kind], where.area),
            (LocationKind.FLOOR, where.floor),
            (LocationKind.ROOM, where.room),
        ]
        parent: Location | None = None
        for level, (kind, name) in enumerate(levels[:depth]):
            key = (parent.pk if parent else None, name)
            if key not in self.resolved:
                self.resolved.add(key)
                self.locations[key] = self._upsert(
                    "location",
                    self.locations.get(key),
                    lambda kind=kind, name=name, parent=parent: Location(
                        site=self.site, kind=kind, name=name, parent=parent
                    ),
                    {"kind": kind},
                    row,
                    {"name": _LEVEL_COLUMNS[level], "kind": "area_kind", "parent": "area"},
                    _LEVEL_COLUMNS[level],
                )
            parent = self.locations.get(key)
            if parent is None:
                return None
        return parent

    def _meter(self, group: MeterRows, gateway: Gateway, location: Location) -> Meter | None:
        first = group.first
        existing = self.meters.get(first.meter_number)
        if existing is not None and existing.gateway.site_id != self.site.pk:
            self._error(
                group.row,
                "meter_number",
                _("meter %(number)s is installed on site %(site)s: remove it there first")
                % {"number": first.meter_number, "site": existing.gateway.site.name},
            )
            return None
        count = len(group.points)
        if existing is not None and (
            extra := sorted(c for c in self.circuits.get(existing.pk, ()) if c > count)
        ):
            self._error(
                group.points[-1][0],
                "circuit",
                _(
                    "meter %(number)s has a metering point on circuit %(circuit)s, but the sheet "
                    "lists %(count)s circuit(s): an import never deletes metering points"
                )
                % {"number": first.meter_number, "circuit": extra[0], "count": count},
            )
            return None
        values = {
            "gateway": gateway,
            "address": first.address,
            "address_count": count,
            "model": self.models.get(first.model.value),
            "location": location,
            "ct_ratio": first.ct_ratio,
            "pt_ratio": first.pt_ratio,
        }
        if values["model"] is None:
            self._error(
                group.row,
                "model",
                _("%(model)s is not in the meter catalogue: run pems init")
                % {"model": first.model.value},
            )
            return None
        columns = dict(_METER_COLUMNS)
        if first.circuit is None:
            columns["address_count"] = "model"
        meter = self._upsert(
            "meter",
            existing,
            lambda: Meter(number=first.meter_number),
            values,
            group.row,
            columns,
            "meter_number",
        )
        if meter is not None:
            self.meters[meter.number] = meter
        return meter

    def _point(
        self,
        row: int,
        point: MeterPoint,
        meter: Meter,
        circuit: int,
        room: Location | None,
        *,
        boxed: bool,
    ) -> None:
        model = meter.model
        phases = point.circuit.phases if point.circuit else (model.phases or Phases.SINGLE)
        values = {
            "phases": phases,
            "utility": model.utility,
            "fee_control": point.fee_control.value,
            "number": point.meter_number if boxed else "",
            "room": room,
        }
        existing = self.points.get((meter.pk, circuit))
        if (
            existing is not None
            and existing.pk in self.billed
            and existing.fee_control != values["fee_control"]
        ):
            self._error(
                row,
                "fee_control",
                _(
                    "metering point %(point)s is billed to an open account: its fee control "
                    "changes only when the account is closed"
                )
                % {"point": existing},
            )
            return
        self._upsert(
            "metering point",
            existing,
            lambda: MeteringPoint(meter=meter, circuit=circuit),
            values,
            row,
            _POINT_COLUMNS,
            "meter_number",
        )

    # -- generic create-or-update with validation and audit ----------------------

    def _upsert(
        self,
        kind: str,
        existing: M | None,
        make: Callable[[], M],
        values: Mapping[str, Any],
        row: int,
        columns: Mapping[str, str],
        default_column: str,
    ) -> M | None:
        tally = self.tallies[kind]
        if existing is None:
            obj = make()
            for name, value in values.items():
                setattr(obj, name, value)
            if not self._valid(obj, row, columns, default_column):
                return None
            self._save(obj, row, default_column)
            tally.created += 1
            self._audit("create", obj, diff({}, snapshot(obj)))
            return obj
        changed = {name: v for name, v in values.items() if _differs(existing, name, v)}
        if not changed:
            tally.unchanged += 1
            return existing
        before = snapshot(existing)
        for name, value in changed.items():
            setattr(existing, name, value)
        if not self._valid(existing, row, columns, default_column):
            return None
        self._save(existing, row, default_column)
        tally.updated += 1
        self._audit("change", existing, diff(before, snapshot(existing)))
        return existing

    def _valid(
        self, obj: models.Model, row: int, columns: Mapping[str, str], default_column: str
    ) -> bool:
        """``full_clean`` and the unique rules, each problem against its sheet column.

        Foreign keys point at rows this import just loaded or saved, and the
        unique constraints are checked against maps loaded up front, so a row
        costs no lookups beyond those its model's ``clean`` makes itself.
        """
        relations = [f.name for f in obj._meta.concrete_fields if f.is_relation]
        problems: dict[str, list[str]] = {}
        try:
            obj.full_clean(exclude=relations, validate_constraints=False)
        except ValidationError as exc:
            problems = exc.message_dict
        for name, message in self._duplicates(obj).items():
            problems.setdefault(name, []).append(message)
        for name, messages in problems.items():
            column = default_column if name == NON_FIELD_ERRORS else columns.get(name)
            for message in messages:
                self._error(row, column or default_column, message)
        return not problems

    def _duplicates(self, obj: models.Model) -> dict[str, str]:
        """The model's unique constraints that reach beyond this sheet (other rows, sites)."""
        if isinstance(obj, Gateway):
            other = self.endpoints.get((obj.host, obj.port))
            if other is not None and other != obj.pk:
                return {"port": _violation(Gateway, "gateway_unique_endpoint")}
        if isinstance(obj, Meter):
            other = self.addresses.get((obj.gateway_id, obj.address))
            if other is not None and other != obj.pk:
                return {"address": _violation(Meter, "meter_unique_address_on_gateway")}
        return {}

    def _save(self, obj: models.Model, row: int, column: str) -> None:
        try:
            obj.save()
        except IntegrityError as exc:  # validation passed but the database disagreed
            self._error(row, column, _("the database refused this row: %(error)s") % {"error": exc})
            raise Aborted from exc
        if isinstance(obj, Gateway):
            self.endpoints[(obj.host, obj.port)] = obj.pk
        if isinstance(obj, Meter):
            self.addresses[(obj.gateway_id, obj.address)] = obj.pk

    def _error(self, row: int, column: str, message: str) -> None:
        self.errors.append(SheetIssue(row, column, str(message)))

    def _audit(self, action: str, obj: models.Model, changes: dict[str, Any]) -> None:
        self.events.append(_event(self.actor, action, obj, changes, self.reason))

    def write_audit(self, source: str, report: ImportReport) -> None:
        """The per-object events and one summary event for the import, in one insert."""
        counts = {kind: vars(tally) for kind, tally in report.tallies.items()}
        summary = _event(
            self.actor, "inventory.import", self.site, {"source": source, "counts": counts}, ""
        )
        summary.reason = self.reason
        AuditEvent.objects.bulk_create([*self.events, summary], batch_size=500)


def _event(
    actor: Any, action: str, obj: models.Model, changes: dict[str, Any], reason: str
) -> AuditEvent:
    """An unsaved audit event, as :func:`pems.audit.log.record` would write it."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        actor=user,
        actor_label=user.get_username() if user is not None else str(actor or "system"),
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes,
        reason=reason,
    )


def _differs(obj: models.Model, name: str, value: Any) -> bool:
    model_field = obj._meta.get_field(name)
    if model_field.is_relation:
        return bool(getattr(obj, model_field.attname) != (value.pk if value is not None else None))
    return bool(getattr(obj, name) != value)


def _violation(model: type[models.Model], name: str) -> str:
    """The message a model's named constraint gives when violated."""
    constraint = next(c for c in model._meta.constraints if c.name == name)
    return str(constraint.get_violation_error_message())


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
