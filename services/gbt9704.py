"""Official documents laid out per GB/T 9704-2012 (党政机关公文格式), as .docx with python-docx.

A document is a template filled with one document's parts. The default template of each
form is generated here; a tenant may replace it with its own .docx carrying placeholders
(see PLACEHOLDERS). Scalar placeholders (`{{number}}`) are replaced inside the runs that hold
them, keeping the template's formatting; block placeholders (`{{body}}` alone in a
paragraph) become the rendered paragraphs and tables, formatted per the standard whatever
the template's styles, so a custom template changes the frame, never the body's type.

The layout: A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (body area
156 × 225 mm); 22 lines of 28.95 pt per page; the red 发文机关标志 in 方正小标宋简体 and the red
separator 4 mm under the 发文字号; title 方正小标宋简体 二号 (22 pt); body 仿宋_GB2312 三号 (16 pt),
headings 黑体 (一、) and 楷体_GB2312 (（一）); page numbers 4号 half-width in the footer,
right on odd pages and left on even ones, one character in from the edge. East-Asian font
names are written to w:eastAsia (python-docx's `font.name` only sets the Latin slots).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.table import Table as DocxTable
from docx.table import _Cell
from docx.text.paragraph import Paragraph

# Fonts and sizes named by the standard (a machine without them substitutes; the names stay).
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
HEADING1_FONT = "黑体"
HEADING2_FONT = "楷体_GB2312"
PAGE_NUMBER_FONT = "宋体"
SIZE_TITLE = Pt(22)  # 二号
SIZE_BODY = Pt(16)  # 三号
SIZE_IMPRINT = Pt(14)  # 四号 (版记, page numbers)
SIZE_TABLE = Pt(12)  # 小四 (attachment tables)
LINE = Pt(28.95)  # fixed: 22 lines in the 225 mm body area
TITLE_LINE = Pt(35)
CHAR = SIZE_BODY  # one character of body text: the unit of every indent
RED = RGBColor(0xFF, 0x00, 0x00)

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = Mm(37), Mm(35), Mm(28), Mm(26)
BODY_WIDTH_MM = 156
HEADER_TOP = Mm(35)  # 发文机关标志上边缘至版心上边缘 (文件格式)

DIGITS = "〇一二三四五六七八九"

# Placeholders: canonical name -> accepted spellings (English and the standard's Chinese terms).
SCALARS = {
    "header": ("header", "发文机关标志"),
    "number": ("number", "发文字号"),
    "title": ("title", "标题"),
    "recipients": ("recipients", "主送机关"),
    "authority": ("authority", "发文机关署名"),
    "date": ("date", "成文日期"),
    "printer": ("printer", "印发机关"),
    "printed_on": ("printed_on", "印发日期"),
    "copy_to": ("copy_to", "抄送机关"),
}
BLOCKS = {
    "body": ("body", "正文"),
    "attachment_note": ("attachment_note", "附件说明"),
    "signature": ("signature", "署名"),
    "attachments": ("attachments", "附件"),
    "imprint": ("imprint", "版记"),
}
PLACEHOLDERS = {alias: name for table in (SCALARS, BLOCKS) for name, aliases in table.items() for alias in aliases}
REQUIRED_PLACEHOLDERS = ("number", "title", "body")
_PH = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


# --- numbers and dates --------------------------------------------------------------------


def chinese_number(n: int) -> str:
    """1..99 in Chinese numerals as dates write them (十, 十一, 二十, 二十六, 三十一)."""
    if not 0 < n < 100:
        raise ValueError(f"{n} is not a day or month")
    tens, ones = divmod(n, 10)
    if tens == 0:
        return DIGITS[ones]
    return ("" if tens == 1 else DIGITS[tens]) + "十" + (DIGITS[ones] if ones else "")


def chinese_date(d: date) -> str:
    """成文日期 in Chinese numerals: 2024-07-26 -> 二〇二四年七月二十六日."""
    year = "".join(DIGITS[int(c)] for c in str(d.year))
    return f"{year}年{chinese_number(d.month)}月{chinese_number(d.day)}日"


def arabic_date(d: date) -> str:
    """The date as GB/T 9704-2012 7.3.5.1 writes it: 2024年7月26日 (no padding)."""
    return f"{d.year}年{d.month}月{d.day}日"


def document_number(prefix: str, year: int, seq: int) -> str:
    """发文字号: 机关代字 + 〔年份〕 + 序号 (no padding, no 第): 嘉法督〔2024〕3号."""
    return f"{prefix}〔{year}〕{seq}号"


# --- what a document is made of -------------------------------------------------------------


@dataclass(frozen=True)
class Para:
    """A body paragraph; `lead` is a heading run before the text (一、… in 黑体, （一）… in 楷体)."""

    text: str = ""
    lead: str = ""
    level: int = 0  # 0 body text, 1 一、 (黑体), 2 （一） (楷体), 3 1. (仿宋)
    indent: bool = True
    align: str = "justify"  # justify, center, left, right


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths_mm: Sequence[float]


Block = Para | Table


@dataclass(frozen=True)
class Attachment:
    title: str
    blocks: Sequence[Block]


@dataclass
class OfficialDocument:
    """One document's parts, as GB/T 9704-2012 names them."""

    form: str  # "file" (文件格式) or "letter" (信函格式)
    header: str  # 发文机关标志
    number: str  # 发文字号
    title: str  # 标题
    recipients: str  # 主送机关, without the colon
    body: Sequence[Block]  # 正文
    authority: str  # 发文机关署名
    date: date  # 成文日期
    attachments: Sequence[Attachment] = ()
    copy_to: str = ""  # 抄送机关
    printer: str = ""  # 印发机关
    printed_on: date | None = None
    arabic_dates: bool = False
    keywords: str = ""

    @property
    def date_text(self) -> str:
        return arabic_date(self.date) if self.arabic_dates else chinese_date(self.date)


# --- low-level formatting -------------------------------------------------------------------


def set_font(run, name: str, size: Pt | None = None, *, bold: bool | None = None,  # type: ignore[no-untyped-def]
             color: RGBColor | None = None) -> None:
    """Font of a run in every slot, the east-Asian one included (w:rFonts/@w:eastAsia)."""
    run.font.name = name
    rfonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(slot), name)
    if size is not None:
        run.font.size = size
    if bold is not None:
        run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color


def _style_font(style, name: str, size: Pt) -> None:  # type: ignore[no-untyped-def]
    style.font.name = name
    style.font.size = size
    rfonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        rfonts.set(qn(slot), name)


_PPR_AFTER_BDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
                  "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
                  "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
                  "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
                  "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")


def border(paragraph: Paragraph, side: str, *, val: str = "single", eighths: int = 12, color: str = "FF0000",
           space_pt: int = 0) -> None:
    """A paragraph border (the red separator, the 版记 lines); `eighths` is its width in 1/8 pt."""
    ppr = paragraph._p.get_or_add_pPr()
    pbdr = ppr.find(qn("w:pBdr"))
    if pbdr is None:
        pbdr = OxmlElement("w:pBdr")
        ppr.insert_element_before(pbdr, *_PPR_AFTER_BDR)
    el = OxmlElement(f"w:{side}")
    el.set(qn("w:val"), val)
    el.set(qn("w:sz"), str(eighths))
    el.set(qn("w:space"), str(space_pt))
    el.set(qn("w:color"), color)
    order = ("top", "left", "bottom", "right", "between", "bar")
    later = [pbdr.find(qn(f"w:{s}")) for s in order[order.index(side) + 1:]]
    later = [e for e in later if e is not None]
    if later:
        later[0].addprevious(el)
    else:
        pbdr.append(el)


def _fmt(paragraph: Paragraph, *, align: str = "justify", line: Pt | None = LINE, first_line: Pt | None = None,
         left: Pt | None = None, right: Pt | None = None) -> None:
    pf = paragraph.paragraph_format
    pf.alignment = {"justify": WD_ALIGN_PARAGRAPH.JUSTIFY, "center": WD_ALIGN_PARAGRAPH.CENTER,
                    "left": WD_ALIGN_PARAGRAPH.LEFT, "right": WD_ALIGN_PARAGRAPH.RIGHT}[align]
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    if line is not None:
        pf.line_spacing = line  # a Length: lineRule="exact"
    pf.first_line_indent = first_line if first_line is not None else Pt(0)
    pf.left_indent = left if left is not None else Pt(0)
    pf.right_indent = right if right is not None else Pt(0)


def _page_number(paragraph: Paragraph) -> None:
    """'— N —' with N a PAGE field: 4号 half-width digits, a dash each side."""

    def run(text: str = "") -> object:
        r = paragraph.add_run(text)
        set_font(r, PAGE_NUMBER_FONT, SIZE_IMPRINT)
        return r

    run("— ")
    for kind, instr in (("begin", None), (None, " PAGE "), ("separate", None), (None, None), ("end", None)):
        r = run("1" if kind is None and instr is None else "")
        if kind is not None:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            r._element.append(el)  # type: ignore[attr-defined]
        elif instr is not None:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = instr
            r._element.append(el)  # type: ignore[attr-defined]
    run(" —")


def _doc_grid(section) -> None:  # type: ignore[no-untyped-def]
    sect = section._sectPr
    grid = sect.find(qn("w:docGrid"))
    if grid is None:
        grid = OxmlElement("w:docGrid")
        sect.append(grid)
    grid.set(qn("w:type"), "lines")
    grid.set(qn("w:linePitch"), str(round(LINE.pt * 20)))


def _page_setup(doc: DocxDocument) -> None:
    for section in doc.sections:
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
        section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
        section.header_distance = Mm(15)
        section.footer_distance = Mm(25)  # the page number sits 7 mm under the body area's last line
        _doc_grid(section)
    normal = doc.styles["Normal"]
    _style_font(normal, BODY_FONT, SIZE_BODY)
    normal.paragraph_format.line_spacing = LINE
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)


def _footers(doc: DocxDocument) -> None:
    # 单页码居右空一字，双页码居左空一字 (odd pages right, even pages left, one character in)
    doc.settings.odd_and_even_pages_header_footer = True
    for section in doc.sections:
        odd = section.footer.paragraphs[0]
        _fmt(odd, align="right", line=None, right=SIZE_IMPRINT)
        _page_number(odd)
        even = section.even_page_footer.paragraphs[0]
        _fmt(even, align="left", line=None, left=SIZE_IMPRINT)
        _page_number(even)


# --- the default templates ----------------------------------------------------------------------


def header_size(text: str) -> Pt:
    """The 发文机关标志's size: as large as fits the 156 mm line, at most 36 pt, at least 22 pt."""
    width_pt = BODY_WIDTH_MM / 25.4 * 72
    return Pt(max(22, min(36, int(width_pt / max(1, len(text))))))


def default_template(form: str, header: str) -> bytes:
    """The standard frame of a form ('file' or 'letter') with placeholders; the header sized to fit."""
    if form not in ("file", "letter"):
        raise ValueError(f"unknown form {form!r}")
    doc = Document()
    _page_setup(doc)
    _footers(doc)
    body = doc.paragraphs[0] if doc.paragraphs else doc.add_paragraph()

    def para(text: str = "", *, font: str = BODY_FONT, size: Pt = SIZE_BODY, color: RGBColor | None = None,
             **fmt: object) -> Paragraph:
        nonlocal body
        p = body if body is not None else doc.add_paragraph()
        body = None
        _fmt(p, **fmt)  # type: ignore[arg-type]
        if text:
            set_font(p.add_run(text), font, size, color=color)
        return p

    size = header_size(header)
    if form == "file":
        h = para("{{header}}", font=TITLE_FONT, size=size, color=RED, align="center", line=Pt(size.pt * 1.25))
        h.paragraph_format.space_before = HEADER_TOP
        para()
        para()
        n = para("{{number}}", align="center")
        # the red separator 4 mm under the number, as wide as the body area
        border(n, "bottom", eighths=12, color="FF0000", space_pt=11)
        para()
        para()
    else:
        h = para("{{header}}", font=TITLE_FONT, size=size, color=RED, align="center", line=Pt(size.pt * 1.25))
        # letters: a double red line under the authority, thick over thin
        border(h, "bottom", val="thickThinSmallGap", eighths=24, color="FF0000", space_pt=4)
        para()
        para("{{number}}", align="right")
        para()
    para("{{title}}", font=TITLE_FONT, size=SIZE_TITLE, align="center", line=TITLE_LINE)
    para()
    para("{{recipients}}：", align="left")
    for block in ("body", "attachment_note", "signature", "attachments", "imprint"):
        para("{{" + block + "}}", align="left")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# --- filling a template ---------------------------------------------------------------------------


def _all_paragraphs(doc: DocxDocument) -> Iterator[Paragraph]:
    def walk(container) -> Iterator[Paragraph]:  # type: ignore[no-untyped-def]
        yield from container.paragraphs
        for table in container.tables:
            for row in table.rows:
                for cell in row.cells:
                    yield from walk(cell)

    yield from walk(doc)
    for section in doc.sections:
        for part in (section.header, section.footer, section.even_page_header, section.even_page_footer,
                     section.first_page_header, section.first_page_footer):
            # a linked part has no definition of its own; touching it would add one
            if not part.is_linked_to_previous:
                yield from walk(part)


def placeholders_in(data: bytes) -> set[str]:
    """Every placeholder spelled in a template (as written, aliases not resolved)."""
    doc = Document(io.BytesIO(data))
    found: set[str] = set()
    for p in _all_paragraphs(doc):
        found.update(m.group(1) for m in _PH.finditer(p.text))
    return found


def _replace_scalars(paragraph: Paragraph, values: dict[str, str]) -> None:
    runs = paragraph.runs
    if not runs or "{{" not in paragraph.text:
        return
    for m in reversed(list(_PH.finditer("".join(r.text for r in runs)))):
        name = PLACEHOLDERS.get(m.group(1))
        if name not in SCALARS:
            continue
        start, end = m.span()
        bounds, pos = [], 0
        for r in runs:
            bounds.append((pos, pos + len(r.text)))
            pos += len(r.text)
        i = next(k for k, (a, b) in enumerate(bounds) if a <= start < b)
        j = next(k for k, (a, b) in enumerate(bounds) if a < end <= b)
        value = values.get(name, "")
        if i == j:
            t = runs[i].text
            runs[i].text = t[:start - bounds[i][0]] + value + t[end - bounds[i][0]:]
        else:
            runs[i].text = runs[i].text[:start - bounds[i][0]] + value
            for k in range(i + 1, j):
                runs[k].text = ""
            runs[j].text = runs[j].text[end - bounds[j][0]:]


def _replace_block(doc: DocxDocument, anchor: Paragraph, render: Callable[[DocxDocument], None]) -> None:
    """Render blocks at the end of the body, then move them to where the anchor stands."""
    body = doc.element.body
    # Holding the proxies keeps their identity: lxml gives a live node one proxy at a time.
    kept = list(body)
    before = {id(el) for el in kept}
    render(doc)
    for el in [el for el in body if id(el) not in before and el.tag != qn("w:sectPr")]:
        anchor._p.addprevious(el)
    anchor._p.getparent().remove(anchor._p)


def _add_para(doc: DocxDocument, block: Para) -> Paragraph:
    p = doc.add_paragraph()
    _fmt(p, align=block.align, first_line=2 * CHAR if block.indent else None)
    heading = {1: HEADING1_FONT, 2: HEADING2_FONT}.get(block.level, BODY_FONT)
    if block.lead:
        set_font(p.add_run(block.lead), heading, SIZE_BODY)
    if block.text:
        # a heading without a lead is the heading itself; after a lead comes body text
        set_font(p.add_run(block.text), BODY_FONT if block.lead else heading, SIZE_BODY)
    return p


_TBL_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")


def _add_table(doc: DocxDocument, block: Table) -> DocxTable:
    t = doc.add_table(rows=1 + len(block.rows), cols=len(block.headers))
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    tblpr = t._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), "4")
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
        borders.append(el)
    tblpr.insert_element_before(borders, *_TBL_AFTER_BORDERS)
    # Word reads the cells' widths, LibreOffice the grid's: both get them, in twips, fixed.
    twips = [round(w / 25.4 * 1440) for w in block.widths_mm]
    for col, w in zip(t._tbl.tblGrid.findall(qn("w:gridCol")), twips, strict=True):
        col.set(qn("w:w"), str(w))
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    tblpr.insert_element_before(layout, "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")
    # the header row repeats on every page the table runs over
    trpr = t.rows[0]._tr.get_or_add_trPr()
    hdr = OxmlElement("w:tblHeader")
    hdr.set(qn("w:val"), "true")
    trpr.append(hdr)
    # cells straight from the rows' XML: Table.cell() rebuilds the whole grid on every call
    for r, (tr, values) in enumerate(zip(t._tbl.tr_lst, [list(block.headers), *[list(row) for row in block.rows]],
                                         strict=True)):
        for c, (tc, value) in enumerate(zip(tr.tc_lst, values, strict=True)):
            cell = _Cell(tc, t)
            cell.width = Mm(block.widths_mm[c])
            p = cell.paragraphs[0]
            _fmt(p, align="center" if r == 0 or len(str(value)) <= 4 else "left", line=Pt(20))
            set_font(p.add_run(str(value)), HEADING1_FONT if r == 0 else BODY_FONT, SIZE_TABLE)
    return t


def _add_blocks(doc: DocxDocument, blocks: Sequence[Block]) -> None:
    for b in blocks:
        if isinstance(b, Table):
            _add_table(doc, b)
        else:
            _add_para(doc, b)


def _attachment_note(doc: DocxDocument, od: OfficialDocument) -> None:
    if not od.attachments:
        return
    doc.add_paragraph()  # 正文下空一行
    label = "附件："
    for i, a in enumerate(od.attachments, 1):
        p = doc.add_paragraph()
        item = f"{i}．{a.title}" if len(od.attachments) > 1 else a.title
        if i == 1:
            # 左空二字编排"附件"，回行时与附件名称首字对齐
            _fmt(p, align="left", left=(2 + len(label)) * CHAR, first_line=-len(label) * CHAR)
            set_font(p.add_run(label + item), BODY_FONT, SIZE_BODY)
        else:
            _fmt(p, align="left", left=(2 + len(label)) * CHAR)
            set_font(p.add_run(item), BODY_FONT, SIZE_BODY)


def signature_indents(authority: str, date_text: str) -> tuple[int, int]:
    """Right indents in characters of 发文机关署名 and 成文日期 (GB/T 9704-2012 7.3.5.2, no seal):
    the authority two characters in from the right, the date's first character two right of
    the authority's; a date longer than that sits two in and pushes the authority left."""
    a, d = len(authority), len(date_text)
    if a - d >= 2:
        return 2, a - d
    return d + 4 - a, 2


def _signature(doc: DocxDocument, od: OfficialDocument) -> None:
    doc.add_paragraph()  # 正文（或附件说明）下空一行
    a_right, d_right = signature_indents(od.authority, od.date_text)
    p = doc.add_paragraph()
    _fmt(p, align="right", right=a_right * CHAR)
    set_font(p.add_run(od.authority), BODY_FONT, SIZE_BODY)
    p = doc.add_paragraph()
    _fmt(p, align="right", right=d_right * CHAR)
    set_font(p.add_run(od.date_text), BODY_FONT, SIZE_BODY)


def _attachments(doc: DocxDocument, od: OfficialDocument) -> None:
    for i, a in enumerate(od.attachments, 1):
        p = doc.add_paragraph()
        p.add_run().add_break(WD_BREAK.PAGE)
        _fmt(p, align="left")
        # 附件 on a new page: "附件N" top left in 黑体, the title centred like the main one
        set_font(p.add_run(f"附件{i}" if len(od.attachments) > 1 else "附件"), HEADING1_FONT, SIZE_BODY)
        doc.add_paragraph()
        t = doc.add_paragraph()
        _fmt(t, align="center", line=TITLE_LINE)
        set_font(t.add_run(a.title), TITLE_FONT, SIZE_TITLE)
        doc.add_paragraph()
        _add_blocks(doc, a.blocks)


def _imprint(doc: DocxDocument, od: OfficialDocument) -> None:
    """版记: 抄送 and the printing office with the printing date, between separator lines."""
    if not od.printer:
        return
    doc.add_paragraph()
    rows: list[Paragraph] = []
    if od.copy_to:
        p = doc.add_paragraph()
        _fmt(p, align="left", left=SIZE_IMPRINT, right=SIZE_IMPRINT, first_line=None)
        set_font(p.add_run(f"抄送：{od.copy_to}。"), BODY_FONT, SIZE_IMPRINT)
        rows.append(p)
    p = doc.add_paragraph()
    _fmt(p, align="left", left=SIZE_IMPRINT, right=SIZE_IMPRINT)
    printed = od.printed_on or od.date
    # tab positions count from the body area's left edge: the right one ends the text
    p.paragraph_format.tab_stops.add_tab_stop(Mm(BODY_WIDTH_MM) - SIZE_IMPRINT, alignment=WD_TAB_ALIGNMENT.RIGHT)
    set_font(p.add_run(f"{od.printer}\t{arabic_date(printed)}印发"), BODY_FONT, SIZE_IMPRINT)
    rows.append(p)
    # first and last lines thick (0.35 mm), the one between thin (0.25 mm)
    border(rows[0], "top", eighths=8, color="000000", space_pt=1)
    if len(rows) > 1:
        border(rows[0], "bottom", eighths=6, color="000000", space_pt=1)
    border(rows[-1], "bottom", eighths=8, color="000000", space_pt=1)


def fill(template: bytes, od: OfficialDocument) -> bytes:
    """Fill a template (default or a tenant's) with one document; returns the .docx bytes."""
    doc = Document(io.BytesIO(template))
    values = {
        "header": od.header, "number": od.number, "title": od.title, "recipients": od.recipients,
        "authority": od.authority, "date": od.date_text, "printer": od.printer,
        "printed_on": arabic_date(od.printed_on or od.date), "copy_to": od.copy_to,
    }
    renderers: dict[str, Callable[[DocxDocument], None]] = {
        "body": lambda d: _add_blocks(d, od.body),
        "attachment_note": lambda d: _attachment_note(d, od),
        "signature": lambda d: _signature(d, od),
        "attachments": lambda d: _attachments(d, od),
        "imprint": lambda d: _imprint(d, od),
    }
    anchors: list[tuple[str, Paragraph]] = []
    for p in list(_all_paragraphs(doc)):
        m = _PH.fullmatch(p.text.strip())
        name = PLACEHOLDERS.get(m.group(1)) if m else None
        if name in BLOCKS and p._p.getparent().tag == qn("w:body"):
            anchors.append((name, p))
        else:
            _replace_scalars(p, values)
    for name, p in anchors:
        _replace_block(doc, p, renderers[name])
    props = doc.core_properties
    props.title = od.title
    props.author = od.authority
    props.subject = od.number
    props.keywords = od.keywords
    props.created = datetime.combine(od.date, datetime.min.time())
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render(od: OfficialDocument, template: bytes | None = None) -> bytes:
    """The document as .docx: the tenant's template if given, else the standard one of its form."""
    return fill(template if template is not None else default_template(od.form, od.header), od)


@dataclass
class TemplateCheck:
    placeholders: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def check_template(data: bytes) -> TemplateCheck:
    """What a tenant's template spells: known placeholders, unknown ones, required ones missing."""
    found = placeholders_in(data)
    names = {PLACEHOLDERS[p] for p in found if p in PLACEHOLDERS}
    return TemplateCheck(
        placeholders=sorted(names),
        unknown=sorted(p for p in found if p not in PLACEHOLDERS),
        missing=[r for r in REQUIRED_PLACEHOLDERS if r not in names]
        + ([] if {"signature", "date"} & names else ["signature"]),
    )

