"""From sheet rows to a validated :class:`SitePlan`: every problem, or nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from pems.siteplan.catalogue import CIRCUIT_LIMITS
from pems.siteplan.columns import COLUMNS, GATEWAY_COLUMNS, gateway_cells
from pems.siteplan.errors import SheetError, SheetIssue, gettext_noop
from pems.siteplan.model import Circuit, Gateway, SitePlan
from pems.siteplan.rows import ParsedRow, parse_row


def check_header(header: Sequence[str]) -> list[SheetIssue]:
    """Problems with the header row: unknown, missing or repeated column names."""
    issues: list[SheetIssue] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            issues.append(SheetIssue(1, name, gettext_noop("appears twice in the header")))
        elif name not in COLUMNS:
            issues.append(SheetIssue(1, name or "(blank)", gettext_noop("is not a known column")))
        seen.add(name)
    for name in COLUMNS:
        if name not in seen:
            issues.append(SheetIssue(1, name, gettext_noop("is missing from the header")))
    return issues


def build_plan(rows: Iterable[tuple[int, Mapping[str, str]]]) -> SitePlan:
    """Validate numbered rows (cells by column name) into a plan, or raise SheetError."""
    issues: list[SheetIssue] = []
    parsed = [p for number, cells in rows if (p := parse_row(number, cells, issues))]
    if not parsed and not issues:
        issues.append(SheetIssue(0, None, gettext_noop("the sheet has no metering points")))
    if parsed:
        _check_site(parsed, issues)
        gateways = _check_gateways(parsed, issues)
        _check_addresses(parsed, issues)
        _check_meter_numbers(parsed, issues)
        _check_circuits(parsed, issues)
    if issues:
        raise SheetError(
            sorted(
                issues,
                key=lambda i: (i.row, COLUMNS.index(i.column) if i.column in COLUMNS else -1),
            )
        )
    by_gateway: dict[str, list[ParsedRow]] = defaultdict(list)
    for row in parsed:
        by_gateway[row.gateway.code].append(row)
    return SitePlan(
        site=parsed[0].site,
        gateways=tuple(
            replace(gateway, meters=tuple(r.meter for r in by_gateway[code]))
            for code, gateway in gateways.items()
        ),
    )


def _check_site(rows: list[ParsedRow], issues: list[SheetIssue]) -> None:
    first = rows[0]
    for row in rows[1:]:
        if row.site != first.site:
            issues.append(
                SheetIssue.of(
                    row.number,
                    "site",
                    gettext_noop(
                        "'%(value)s' differs from '%(first)s' on row %(row)s: "
                        "one sheet describes one site"
                    ),
                    value=row.site,
                    first=first.site,
                    row=first.number,
                )
            )


def _check_gateways(rows: list[ParsedRow], issues: list[SheetIssue]) -> dict[str, Gateway]:
    """Gateway columns repeat identically; endpoints are unique. Returns gateways in order."""
    first: dict[str, ParsedRow] = {}
    endpoints: dict[tuple[str, int], ParsedRow] = {}
    for row in rows:
        code = row.gateway.code
        if code not in first:
            first[code] = row
            endpoint = (row.gateway.host, row.gateway.port)
            if (other := endpoints.setdefault(endpoint, row)) is not row:
                issues.append(
                    SheetIssue.of(
                        row.number,
                        "gateway_port",
                        gettext_noop(
                            "%(host)s:%(port)s is already gateway '%(gateway)s' (row %(row)s)"
                        ),
                        host=endpoint[0],
                        port=endpoint[1],
                        gateway=other.gateway.code,
                        row=other.number,
                    )
                )
            continue
        expected, actual = gateway_cells(first[code].gateway), gateway_cells(row.gateway)
        for column in GATEWAY_COLUMNS:
            if expected[column] != actual[column]:
                issues.append(
                    SheetIssue.of(
                        row.number,
                        column,
                        gettext_noop(
                            "%(value)s differs from %(expected)s on row %(row)s "
                            "for gateway '%(gateway)s'"
                        ),
                        value=actual[column],
                        expected=expected[column],
                        row=first[code].number,
                        gateway=code,
                    )
                )
    return {code: row.gateway for code, row in first.items()}


def _check_addresses(rows: list[ParsedRow], issues: list[SheetIssue]) -> None:
    seen: dict[tuple[str, int], ParsedRow] = {}
    for row in rows:
        key = (row.gateway.code, row.meter.address)
        if (other := seen.setdefault(key, row)) is not row:
            issues.append(
                SheetIssue.of(
                    row.number,
                    "meter_address",
                    gettext_noop(
                        "address %(address)s is already used on gateway '%(gateway)s' "
                        "by row %(row)s"
                    ),
                    address=row.meter.address_text(row.gateway.protocol),
                    gateway=key[0],
                    row=other.number,
                )
            )


def _check_meter_numbers(rows: list[ParsedRow], issues: list[SheetIssue]) -> None:
    seen: dict[str, ParsedRow] = {}
    for row in rows:
        number = row.meter.meter_number
        if (other := seen.setdefault(number, row)) is not row:
            issues.append(
                SheetIssue.of(
                    row.number,
                    "meter_number",
                    gettext_noop("%(number)s is already used by row %(row)s"),
                    number=number,
                    row=other.number,
                )
            )


def _check_circuits(rows: list[ParsedRow], issues: list[SheetIssue]) -> None:
    """ADF300 boxes: circuits 1..n on consecutive addresses, one gateway, within limits."""
    boxes: dict[str, list[tuple[ParsedRow, Circuit]]] = defaultdict(list)
    for row in rows:
        if row.meter.circuit is not None:
            boxes[row.meter.circuit.box].append((row, row.meter.circuit))
    for box, members in boxes.items():
        gateways = sorted({row.gateway.code for row, _ in members})
        if len(gateways) > 1:
            template = gettext_noop(
                "box '%(box)s' appears on gateways %(gateways)s: one box is on one bus"
            )
            gateway_list = ", ".join(gateways)
            issues.append(
                SheetIssue.of(
                    members[-1][0].number, "box", template, box=box, gateways=gateway_list
                )
            )
            continue
        _check_numbering(box, sorted(members, key=lambda m: m[1].index), issues)
        _check_limits(box, members, issues)


def _check_numbering(
    box: str, members: list[tuple[ParsedRow, Circuit]], issues: list[SheetIssue]
) -> None:
    """Circuits 1, 2, 3 … with circuit n at the first circuit's address + n − 1."""
    first_address = members[0][0].meter.address
    for position, (row, circuit) in enumerate(members, start=1):
        if circuit.index != position:
            template = gettext_noop(
                "box '%(box)s' has circuit %(circuit)s where %(expected)s was expected: "
                "number circuits 1, 2, 3 … without gaps or repeats"
            )
            issues.append(
                SheetIssue.of(
                    row.number,
                    "circuit",
                    template,
                    box=box,
                    circuit=circuit.index,
                    expected=position,
                )
            )
            return
        expected = first_address + position - 1
        if row.meter.address != expected:
            template = gettext_noop(
                "circuit %(circuit)s of box '%(box)s' must be on address %(address)s "
                "(each circuit takes the next consecutive address)"
            )
            issues.append(
                SheetIssue.of(
                    row.number,
                    "meter_address",
                    template,
                    circuit=position,
                    box=box,
                    address=expected,
                )
            )
            return


def _check_limits(
    box: str, members: list[tuple[ParsedRow, Circuit]], issues: list[SheetIssue]
) -> None:
    limits = CIRCUIT_LIMITS
    single = sum(1 for _, circuit in members if circuit.phases == 1)
    three = len(members) - single
    if (
        single > limits.max_single_phase
        or three > limits.max_three_phase
        or single + 3 * three > limits.max_phases
    ):
        template = gettext_noop(
            "box '%(box)s' has %(single)s single-phase and %(three)s three-phase circuits; "
            "an ADF300 takes at most %(max_single)s single-phase, "
            "%(max_three)s three-phase and %(max_phases)s phases in all"
        )
        issue = SheetIssue.of(
            members[0][0].number,
            "phases",
            template,
            box=box,
            single=single,
            three=three,
            max_single=limits.max_single_phase,
            max_three=limits.max_three_phase,
            max_phases=limits.max_phases,
        )
        issues.append(issue)
