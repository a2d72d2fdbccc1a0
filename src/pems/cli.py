"""The `pems` command: Django's management commands under one short name.

`pems init`, `pems serve`, `pems demo`, `pems simulate`, `pems tariff` … are
management commands in the project's apps; `pems help` lists them all.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pems.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["pems", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
