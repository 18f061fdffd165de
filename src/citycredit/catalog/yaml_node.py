"""Strict YAML reading for the catalog: typed access to mappings, errors naming file and key."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from citycredit.shared.errors import CityCreditError

__all__ = ["CatalogError", "Node", "read_yaml"]

_MISSING: Any = object()
E = TypeVar("E", bound=StrEnum)


class CatalogError(CityCreditError):
    """The catalog YAML is malformed; ``file`` and ``key`` locate the problem."""

    default_code = "catalog_invalid"

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"目录文件 {file} 的键 {key}：{problem}")
        self.file, self.key, self.problem = file, key, problem


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of silently keeping the last."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"重复的键 {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors and duplicate keys raise CatalogError with the line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else "(YAML)"
        raise CatalogError(path.name, where, f"YAML 格式错误：{exc}") from None


def _label(index: int, value: Any) -> str:
    """Name a list element by its `code` or `id` when it has one (fields[CF_WSH]), else index."""
    if isinstance(value, dict):
        for key in ("code", "id"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return str(index)


class Node:
    """A YAML mapping with its file and key path; ``marks`` collects `uncertain: true` paths."""

    def __init__(self, data: Any, file: str, path: str, marks: list[str]) -> None:
        if not isinstance(data, dict):
            raise CatalogError(file, path or "(根)", "应为映射（键: 值）")
        self.data, self.file, self.path, self.marks = data, file, path, marks
        if "uncertain" in data and not isinstance(data["uncertain"], bool):
            self.fail("uncertain", "应为 true 或 false")
        if data.get("uncertain"):
            marks.append(path or "(根)")

    @property
    def uncertain(self) -> bool:
        return bool(self.data.get("uncertain"))

    def key(self, name: str) -> str:
        """Full key path of a child, e.g. ``fields[CF_WSH].type``."""
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, problem: str) -> NoReturn:
        """Raise CatalogError for the child key ``name``."""
        raise CatalogError(self.file, self.key(name), problem)

    def only(self, *allowed: str) -> None:
        """Reject keys outside ``allowed`` (typos would otherwise be silently ignored)."""
        for name in self.data:
            if name not in allowed and name != "uncertain":
                self.fail(str(name), f"未知的键（可用：{', '.join(allowed)}）")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        """A child of the given type; missing → ``default`` or an error when there is none."""
        value = self.data.get(name)
        if value is None:
            if default is _MISSING:
                self.fail(name, "缺少必填项")
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(name, f"类型应为 {names}，实际为 {type(value).__name__}（数字编码请加引号）")
        return value

    def text(self, name: str, default: Any = _MISSING) -> Any:
        """A non-blank string child."""
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            self.fail(name, "不能为空")
        return value

    def texts(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        """A list of non-blank strings (a single string counts as a one-element list)."""
        raw = self.data.get(name)
        if raw is None and not required:
            return ()
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or (not items and required):
            self.fail(name, "应为非空的字符串列表")
        for i, v in enumerate(items):
            if not isinstance(v, str) or not v.strip():
                self.fail(f"{name}[{i}]", f"应为非空字符串，实际为 {v!r}（数字编码请加引号）")
        return tuple(items)

    def pairs(self, name: str) -> tuple[tuple[str, str], ...]:
        """A string-to-string mapping as (key, value) pairs."""
        raw = self.get(name, dict, {})
        for k, v in raw.items():
            if not isinstance(k, str) or not isinstance(v, str):
                self.fail(f"{name}.{k}", "键和值都应为字符串（数字编码请加引号）")
        return tuple(raw.items())

    def node(self, name: str) -> Node:
        """A required child mapping."""
        return Node(self.get(name, dict), self.file, self.key(name), self.marks)

    def nodes(self, name: str) -> list[Node]:
        """A list of mappings, each named by its code/id in error paths."""
        raw = self.get(name, list, [])
        key = self.key(name)
        return [Node(v, self.file, f"{key}[{_label(i, v)}]", self.marks) for i, v in enumerate(raw)]

    def choice(self, name: str, cls: type[E], labels: dict[str, E] | None = None) -> E:
        """An enum member given by value or by one of ``labels`` (e.g. Chinese labels)."""
        raw = self.text(name)
        found = (labels or {}).get(raw) or next((m for m in cls if m.value == raw), None)
        if found is None:
            self.fail(name, f"无效取值 {raw!r}（可用：{', '.join(m.value for m in cls)}）")
        return found
