"""Documents and ledgers benchmark: a bulletin's rendering, document numbers under contention,
and a county problem ledger of many rows written to .xlsx.

``ducha bench documents [--issues N] [--concurrency N] [--rows N]`` against DATABASE_URL (a
scratch database is created, migrated, seeded and dropped). The last line printed is one
JSON object: ``{"bench":"documents","render_p50_ms":..,"numbers":..,"gapless":true,
"number_p50_ms":..,"ledger_rows":..,"ledger_seconds":..}`` (plus details).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import date

from sqlalchemy import text

from ducha.bench._scratch import scratch_database


def _bulletin(problems: int):  # type: ignore[no-untyped-def]
    from ducha.services import gbt9704 as fmt

    rows = [[str(i), f"问题{i}：行政执法公示信息更新不及时", "行政执法三项制度", "一般", "新街镇人民政府、陆溪镇人民政府"]
            for i in range(1, problems + 1)]
    return fmt.OfficialDocument(
        form="file", header="中共嘉鱼县委全面依法治县委员会办公室文件", number="嘉法督〔2024〕1号",
        title="关于2024年度法治建设综合督察情况的通报", recipients="各镇人民政府，县直各单位",
        body=[fmt.Para("现将有关情况通报如下：")] * 20, authority="中共嘉鱼县委全面依法治县委员会办公室",
        date=date(2024, 9, 20), attachments=[fmt.Attachment("共性问题清单", [fmt.Table(
            ["序号", "问题", "类别", "严重程度", "涉及单位"], rows, [12, 52, 34, 16, 42])])],
        copy_to="县人大常委会办公室，县政府办公室", printer="中共嘉鱼县委全面依法治县委员会办公室")


# Many problem instances at the county's units, straight into the tables (the ledger's query
# and the workbook are measured, not the cycle's actions).
_BULK = text("""
WITH t AS (SELECT id FROM tenant WHERE region_code = '421221'),
ins AS (
  INSERT INTO inspection (tenant_id, year, title, kind, form, status)
  SELECT id, 2024, '基准测试督察', 'comprehensive', 'both', 'rectification' FROM t RETURNING tenant_id, id
), ag AS (
  SELECT row_number() OVER (ORDER BY a.id) - 1 AS k, a.id, a.tenant_id FROM agency a JOIN t ON a.tenant_id = t.id
), n AS (SELECT count(*) AS c FROM ag),
p AS (
  INSERT INTO problem (tenant_id, inspection_id, title, category, source, severity, found_on)
  SELECT ins.tenant_id, ins.id, '基准测试问题 ' || g, 'enforcement', 'inspection', 'general', DATE '2024-08-01'
  FROM ins, generate_series(1, :rows) g RETURNING tenant_id, id
)
INSERT INTO problem_instance (tenant_id, problem_id, agency_id, target_tenant_id, status, due_on)
SELECT p.tenant_id, p.id, ag.id, ag.tenant_id, 'notified', DATE '2024-10-31'
FROM p JOIN n ON true JOIN ag ON ag.k = p.id % n.c
""")


async def run(issues: int, concurrency: int, rows: int) -> dict[str, object]:
    from ducha.services import gbt9704

    od = _bulletin(40)
    renders = []
    for _ in range(10):
        t = time.perf_counter()
        gbt9704.render(od)
        renders.append((time.perf_counter() - t) * 1000)
    async with scratch_database("ducha_bench_documents"):
        from ducha.db import Database
        from ducha.services import documents, ledgers

        db = Database.from_settings()
        try:
            async with db.system_session() as s:
                tenant = (await s.execute(text("SELECT id FROM tenant WHERE region_code = '421221'"))).scalar_one()
            waits: list[float] = []
            got: list[int] = []
            sem = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with sem:
                    t = time.perf_counter()
                    async with db.system_session() as s:
                        got.append(await documents.next_number(s, tenant, 2024, "基准"))
                        await asyncio.sleep(0.002)  # the rendering and storing that follow, held under the lock
                    waits.append((time.perf_counter() - t) * 1000)

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(issues)))
            numbering_s = time.perf_counter() - t0
            async with db.system_session() as s:
                await s.execute(_BULK, {"rows": rows})
                await s.execute(text("ANALYZE problem_instance"))
                await s.execute(text("ANALYZE problem"))
            t1 = time.perf_counter()
            async with db.system_session() as s:
                params = await ledgers.resolve(s, {"regionCode": "421221"})
                src = ledgers.SOURCES["problem_ledger"]
                keys, total = await src.keys(s, params, None)  # type: ignore[arg-type]

                async def progress(pct: int) -> None:
                    return None

                sheets = await src.sheets(s, params, progress, None)
            query_s = time.perf_counter() - t1
            t2 = time.perf_counter()
            data = ledgers.write_xlsx(sheets, title="问题台账", creator="bench")
            xlsx_s = time.perf_counter() - t2
        finally:
            await db.dispose()
    return {
        "bench": "documents",
        "render_p50_ms": round(statistics.median(renders), 1),
        "numbers": len(got), "concurrency": concurrency, "gapless": sorted(got) == list(range(1, issues + 1)),
        "number_p50_ms": round(statistics.median(waits), 1), "numbers_per_s": round(len(got) / numbering_s, 1),
        "ledger_rows": total, "coverage_keys": len(keys), "ledger_query_s": round(query_s, 2),
        "ledger_xlsx_s": round(xlsx_s, 2), "ledger_seconds": round(query_s + xlsx_s, 2), "xlsx_bytes": len(data),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ducha bench documents", description=__doc__)
    ap.add_argument("--issues", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--rows", type=int, default=50_000)
    a = ap.parse_args(argv)
    print(json.dumps(asyncio.run(run(a.issues, a.concurrency, a.rows)), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    main()
