"""`citycredit selftest`: run the cryptographic known-answer tests (G17, shared/selftest.py) and
print each one; exit code 2 and a CRITICAL log naming the algorithm when any fails.

Registered in cli/main.py with one `app.command("selftest")` line.
"""

from __future__ import annotations

from rich.table import Table

from citycredit.cli.common import console, fail
from citycredit.shared.selftest import CryptoSelfTestError, check, run_kats


def selftest() -> None:
    """密码算法自检：SHA-256、SM3、SM4、SM4-GCM、AES-256-GCM、HMAC、Ed25519、SM2 已知答案测试。"""
    results = run_kats()
    table = Table(title="密码算法自检（已知答案测试）")
    for column in ("算法", "向量来源", "结果", "耗时 ms"):
        table.add_column(column)
    for r in results:
        verdict = "[green]通过[/green]" if r.ok else f"[red]失败[/red] {r.detail}"
        table.add_row(r.algorithm, r.source, verdict, f"{r.elapsed_ms:.1f}")
    console.print(table)
    try:
        check(results)
    except CryptoSelfTestError as exc:
        fail(exc)
    total = sum(r.elapsed_ms for r in results)
    console.print(f"全部 {len(results)} 项通过，共 {total:.1f} ms")
