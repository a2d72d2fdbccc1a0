"""`pems tariff price TARIFF_FILE USAGE_FILE [--json] [--currency CNY]`: a bill preview.

Only parses arguments, reads the files and calls the pure code in
:mod:`pems.domain`; every rule lives there. Problems in either file are listed
in the active language (``PEMS_LANGUAGE``, Simplified Chinese by default), each
with its field path or row and column; the bill itself is printed in English.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from pems.domain.errors import DomainError, FileFormatError
from pems.domain.pricing import UsageInterval, price
from pems.domain.quantities import Quantity
from pems.domain.render import charges_to_data, charges_to_text
from pems.domain.tariff import Tariff
from pems.domain.tariff_file import load_tariff
from pems.domain.tiers import CycleState, cycle_start
from pems.domain.usage_file import load_usage


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        message = _("cannot read %(path)s: %(error)s") % {"path": path, "error": error.strerror}
        raise CommandError(message) from None
    except UnicodeDecodeError:
        raise CommandError(_("%(path)s is not UTF-8 text") % {"path": path}) from None


def _cycle(
    tariff: Tariff, intervals: Sequence[UsageInterval], used: str | None
) -> CycleState | None:
    if used is None or not intervals:
        return None
    try:
        quantity = Quantity.of(used, tariff.unit)
    except ValueError as error:
        raise CommandError(f"--cycle-used: {error}") from None
    first = min(i.start for i in intervals).astimezone(tariff.zone).date()
    return CycleState(cycle_start(first, tariff.billing_cycle), quantity)


class Command(BaseCommand):
    help = "Tariff tools: `price` previews the charges for a usage file under a tariff file."
    # A pure bill preview from two files: the project's system checks are not its concern.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        preview = actions.add_parser("price", help="price a usage CSV under a tariff TOML")
        preview.add_argument("tariff_file", help="tariff TOML (see docs/tariffs.md)")
        preview.add_argument("usage_file", help="usage CSV: meter totals or intervals")
        preview.add_argument("--json", action="store_true", help="print JSON (amounts as strings)")
        preview.add_argument(
            "--currency",
            help="currency of a tariff file that names none (default CNY); "
            "an error if the file names another",
        )

        preview.add_argument(
            "--cycle-used",
            metavar="QUANTITY",
            help="usage already billed in the billing cycle of the first interval (default 0)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tariff_text = _read(options["tariff_file"])
        usage_text = _read(options["usage_file"])
        currency = options["currency"]
        try:
            tariff = load_tariff(tariff_text, options["tariff_file"], (currency or "CNY").upper())
            if currency and tariff.currency != currency.upper():
                raise CommandError(
                    _("%(file)s is priced in %(priced)s, not %(currency)s")
                    % {
                        "file": options["tariff_file"],
                        "priced": tariff.currency,
                        "currency": currency,
                    }
                )
            usage = load_usage(usage_text, options["usage_file"])
            cycle = _cycle(tariff, usage.intervals, options["cycle_used"])
            charges = price(usage.intervals, tariff, cycle)
        except FileFormatError as error:
            raise CommandError(error.describe(_)) from None
        except DomainError as error:  # pricing's own refusals: English unless raised as a Message
            raise CommandError(error.message.text(_)) from None
        if options["json"]:
            self.stdout.write(json.dumps(charges_to_data(charges), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(charges_to_text(charges, _), ending="")
