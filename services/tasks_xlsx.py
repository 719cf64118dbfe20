"""Key-task lists as .xlsx workbooks (openpyxl): one sheet, a header row with 序号 / 类别 / 任务内容 /
责任单位 / 参加单位 / 责任人 / 完成时限 / 验收标准, one task per row. Reading is forgiving about
where the header is and how a date is written; writing produces the same layout."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from ducha.services.errors import InvalidInput
from ducha.services.tasks import TaskIn

HEADERS = ["序号", "类别", "任务内容", "责任单位", "参加单位", "责任人", "完成时限", "验收标准"]
FIELDS = {"序号": "number", "类别": "section", "任务内容": "content", "责任单位": "lead_units",
          "参加单位": "participating_units", "责任人": "responsible_person", "完成时限": "due_on",
          "验收标准": "acceptance_standard"}
ALIASES = {"编号": "序号", "任务": "任务内容", "主要事项": "任务内容", "牵头单位": "责任单位", "配合单位": "参加单位",
           "时限": "完成时限", "完成时间": "完成时限"}
MAX_BYTES = 5_000_000
_CN_DATE = re.compile(r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$")


def _date(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    m = _CN_DATE.match(str(value).strip())
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    raise InvalidInput(where, f"not a date: {value!r} (write 2024-12-31 or 2024年12月31日)")


def read(data: bytes) -> list[TaskIn]:
    """The tasks of the workbook's first sheet."""
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        raise InvalidInput("file", f"at most {MAX_BYTES // 1_000_000} MB")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - anything openpyxl cannot read is a bad file for the user
        raise InvalidInput("file", f"not an .xlsx workbook: {type(e).__name__}") from None
    ws = wb.worksheets[0]
    columns: dict[str, int] | None = None
    tasks: list[TaskIn] = []
    for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = ["" if c is None else c for c in row]
        if columns is None:
            names = [ALIASES.get(str(c).strip(), str(c).strip()) for c in cells]
            if "序号" in names and "任务内容" in names and "责任单位" in names:
                columns = {name: i for i, name in enumerate(names) if name in FIELDS}
            continue
        if not any(str(c).strip() for c in cells):
            continue
        values = {FIELDS[h]: cells[i] if i < len(cells) else "" for h, i in columns.items()}
        raw = str(values.get("number", "")).strip()
        if not raw.rstrip(".").isdigit():
            raise InvalidInput(f"rows.{n}.number", f"序号 must be a number, not {raw!r}")
        tasks.append(TaskIn(
            number=int(raw.rstrip(".")), content=str(values.get("content", "")).strip(),
            lead_units=str(values.get("lead_units", "")).strip(),
            participating_units=str(values.get("participating_units", "") or "").strip(),
            responsible_person=str(values.get("responsible_person", "") or "").strip(),
            due_on=_date(values.get("due_on"), f"rows.{n}.dueOn"),
            acceptance_standard=str(values.get("acceptance_standard", "") or "").strip(),
            section=str(values.get("section", "") or "").strip(), row=n))
    wb.close()
    if columns is None:
        raise InvalidInput("file", "no header row with 序号, 任务内容 and 责任单位")
    if not tasks:
        raise InvalidInput("file", "the sheet holds no task")
    return tasks


def write(title: str, tasks: Sequence[Any]) -> bytes:
    """A workbook of the tasks (rows with number, section, content, ... as stored)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "重点任务清单"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(HEADERS)
    for c in ws[2]:
        c.font = Font(bold=True)
    for t in tasks:
        ws.append([t.number, t.section, t.content, t.lead_units, t.participating_units, t.responsible_person,
                   t.due_on, t.acceptance_standard])
    for col, width in zip("ABCDEFGH", (6, 24, 60, 30, 30, 12, 12, 30), strict=True):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=3):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")
        row[6].number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
