"""The environment is the tested set: every package pinned in constraints.txt is installed at
exactly its pinned version (scripts/install.sh installs with ``pip -c constraints.txt``;
scripts/lock.sh regenerates the file). Catches a hand-upgraded package or a pyproject change
without a new lock."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        out[req.name] = spec.version
    return out


def test_every_pinned_package_is_installed_at_its_pin() -> None:
    found = pins()
    assert {"fastapi", "polars", "pyarrow", "duckdb", "SQLAlchemy", "psycopg"} <= set(found)
    wrong = {
        name: (want, metadata.version(name))
        for name, want in found.items()
        if metadata.version(name) != want
    }
    assert wrong == {}, f"installed versions differ from constraints.txt: {wrong}"


def test_every_direct_dependency_is_pinned() -> None:
    """pyproject.toml's requirements (with the dev and spark extras) all appear in the lock."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "spark"):
        wanted += project["optional-dependencies"][extra]
    canon = {name.lower().replace("_", "-") for name in pins()}
    missing = [r for r in wanted if Requirement(r).name.lower().replace("_", "-") not in canon]
    assert missing == []
