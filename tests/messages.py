"""Checks shared by the pure layers' message tests (site plan, tariff and usage files)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import polib

import pems

PO = Path(pems.__file__).resolve().parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def untranslated(templates: Iterable[str]) -> list[str]:
    """The templates without a (non-fuzzy) translation in the zh-Hans catalogue."""
    catalogue = {e.msgid: e.msgstr for e in polib.pofile(str(PO)) if not e.obsolete and not e.fuzzy}
    return sorted(t for t in templates if not catalogue.get(t))


def django_loaded_by(imports: str) -> list[str]:
    """Django modules a fresh interpreter has loaded after ``import <imports>``."""
    code = (
        f"import json, sys, {imports}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(result.stdout))
