"""Keep a simulated field across restarts: every meter's registers, credit and relay in JSON.

``pems simulate --state FILE`` loads the file (if there is one) before serving,
saves it every few seconds and when it stops. Meters are keyed by gateway
code and bus address; a meter the plan no longer has is ignored, and a new
one starts fresh. The file is replaced atomically, so a crash leaves the
last complete save.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pems.sim.site import SimSite, SiteError

STATE_VERSION = 1


def save_state(site: SimSite, path: Path) -> int:
    """Write every meter of ``site`` to ``path``; returns how many were saved."""
    meters = {
        f"{gateway.code}/{address}": meter.saved()
        for gateway in site.gateways
        for address, meter in gateway.meters.items()
    }
    document = {"version": STATE_VERSION, "site": site.plan.site, "meters": meters}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, separators=(",", ":"))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(meters)


def load_state(site: SimSite, path: Path) -> int:
    """Restore the meters ``path`` knows (none if it does not exist); returns how many."""
    if not path.exists():
        return 0
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != STATE_VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {STATE_VERSION}")
        saved: dict[str, Any] = document["meters"]
        restored = 0
        for gateway in site.gateways:
            for address, meter in gateway.meters.items():
                if (state := saved.get(f"{gateway.code}/{address}")) is not None:
                    meter.restore(state)
                    restored += 1
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SiteError(f"cannot restore the simulated field from {path}: {exc}") from exc
    return restored
