"""Site plans: the installer's import sheet as validated, immutable records.

Public API::

    from pems.siteplan import load_plan, read_sheet, write_sheet, SheetError
    plan = load_plan("plaza")            # or "mixed", "scale:3125x32", "site.xlsx"
    write_sheet(plan, "site.csv")        # CSV or XLSX by extension
    plan == read_sheet("site.csv")       # round trip; SheetError lists every problem
"""

from pems.siteplan.builtin import load_plan, mixed, plaza, scale_plan
from pems.siteplan.columns import COLUMNS
from pems.siteplan.errors import SheetError, SheetIssue
from pems.siteplan.model import (
    AreaKind,
    Circuit,
    FeeControl,
    Gateway,
    Location,
    MeterPoint,
    ModelCode,
    Parity,
    Prices,
    Protocol,
    SerialSettings,
    SitePlan,
)
from pems.siteplan.sheet import read_csv, read_sheet, write_csv, write_sheet

__all__ = [
    "COLUMNS",
    "AreaKind",
    "Circuit",
    "FeeControl",
    "Gateway",
    "Location",
    "MeterPoint",
    "ModelCode",
    "Parity",
    "Prices",
    "Protocol",
    "SerialSettings",
    "SheetError",
    "SheetIssue",
    "SitePlan",
    "load_plan",
    "mixed",
    "plaza",
    "read_csv",
    "read_sheet",
    "scale_plan",
    "write_csv",
    "write_sheet",
]
