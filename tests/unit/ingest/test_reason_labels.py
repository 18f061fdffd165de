"""Every reason code the intake can quarantine a row with has a Chinese label on the public
数据质量 page (ingest/quality.py REASON_LABELS), collected from the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

import citycredit
from citycredit.ingest.quality import REASON_LABELS

SRC = Path(citycredit.__file__).parent
# Where the intake's reasons come from, and which functions there produce them (None: all).
SOURCES: dict[str, tuple[str, ...] | None] = {
    "catalog/values.py": None,  # parse_field, check_required, check_order
    "catalog/publication.py": None,  # a missing decision date
    "shared/ids.py": ("parse_", "_check"),  # the code parsers parse_field calls
    "subjects/service.py": ("check_category",),
    "ingest/intake.py": None,  # the row path (subject unresolved …)
    # the row loop's OPERATION=删除 rows (not the whole-file refusals: those are 422 answers)
    "ingest/service.py": ("_run_rows", "_withdraw_row", "_locate_for_withdrawal"),
    **{f"ingest/fast/{p.name}": None for p in (SRC / "ingest" / "fast").glob("*.py")},
}
# Calls that carry a reason code as their third argument (or `code=`).
CALLS = {"FieldError", "_fail", "Reason", "_reason"}


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return out


def _codes() -> set[str]:
    trees = {name: ast.parse((SRC / name).read_text(encoding="utf-8")) for name in SOURCES}
    constants: dict[str, str] = {}
    for tree in trees.values():
        constants.update(_constants(tree))
    codes: set[str] = set()
    for name, prefixes in SOURCES.items():
        for fn in ast.walk(trees[name]):
            if not isinstance(fn, ast.FunctionDef):
                continue
            if prefixes is not None and not fn.name.startswith(prefixes):
                continue
            for call in ast.walk(fn):
                if not isinstance(call, ast.Call):
                    continue
                func = call.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called not in CALLS:
                    continue
                arg = call.args[2] if len(call.args) > 2 else None
                arg = next((k.value for k in call.keywords if k.arg == "code"), arg)
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    codes.add(arg.value)
                elif isinstance(arg, ast.Name) and arg.id in constants:
                    codes.add(constants[arg.id])
    return codes


def test_every_reason_code_the_intake_produces_has_a_chinese_label() -> None:
    codes = _codes()
    # the collection sees the kinds it must (parsers, catalog rules, subjects, 删除 rows)
    assert {"checksum", "invalid_date", "date_order", "type_mismatch"} <= codes
    assert {"subject_unresolved", "record_not_found", "not_withdrawable"} <= codes
    assert {"invalid_operation", "required"} <= codes
    missing = sorted(codes - set(REASON_LABELS))
    assert not missing, f"reason codes without a label on the quality page: {missing}"
    assert all(label and label.isascii() is False for label in REASON_LABELS.values())
