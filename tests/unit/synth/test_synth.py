"""Tests of the synthetic Yulin city generator (citycredit.synth)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.shared.divisions import towns
from citycredit.shared.errors import FieldError
from citycredit.shared.ids import (
    allowed_subject_types,
    parse_id_number,
    parse_registration_no,
    parse_uscc,
    subject_type_for_uscc,
)
from citycredit.subjects.model import SUBJECT_TYPE_BY_LABEL, SubjectType
from citycredit.synth.city import DEFAULT_AS_OF, build_subjects, generate_city
from citycredit.synth.files import Manifest
from citycredit.synth.names import COUNTY_NAMES
from citycredit.synth.schema import ENUMS, ITEM_FIELDS, ROLES

AS_OF = DEFAULT_AS_OF
N = 1500
SEED = 20261101


@dataclass
class City:
    """A generated city: its folder, manifest and the rows of every file."""

    out: Path
    manifest: Manifest
    rows: dict[str, list[dict[str, str]]]


def _xlsx_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def read_rows(path: Path, fmt: str, encoding: str | None) -> list[dict[str, str]]:
    """Rows of a department file as dicts of text."""
    if fmt == "json":
        return json.loads(path.read_text(encoding="utf-8"))
    if fmt == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        values = list(wb.worksheets[0].iter_rows(values_only=True))
        headers = [str(h) for h in values[0]]
        return [{h: _xlsx_text(v) for h, v in zip(headers, r, strict=True)} for r in values[1:]]
    text = path.read_bytes().decode(encoding or "utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def load(out: Path, manifest: Manifest) -> City:
    rows = {f.path: read_rows(out / f.path, f.format, f.encoding) for f in manifest.files}
    return City(out, manifest, rows)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    out = tmp_path_factory.mktemp("city")
    return load(out, generate_city(out, subjects=N, seed=SEED))


def parse_date(text: str) -> date:
    """Parse the date styles the generator writes (raises ValueError for impossible dates)."""
    digits = re.sub(r"\D", "", text[:10])
    if len(digits) != 8:
        raise ValueError(text)
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def anomalies(city: City, path: str) -> dict[int, dict[str, Any]]:
    return {int(a["row"]): a for a in city.manifest.file(path).anomalies}


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_city(tmp_path / name, subjects=200, seed=seed)
        runs.append(
            {
                p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((tmp_path / name).iterdir())
            }
        )
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_output_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from citycredit.synth.city import generate_city; "
        "generate_city(Path(sys.argv[1]), subjects=150, seed=11)"
    )
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
        digests.append(
            {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
        )
    assert digests[0] == digests[1]


def test_rerun_into_same_folder_replaces_old_files(tmp_path: Path) -> None:
    generate_city(tmp_path, subjects=400, seed=1)
    second = generate_city(tmp_path, subjects=60, seed=1)
    assert {p.name for p in tmp_path.iterdir()} == {f.path for f in second.files} | {
        "manifest.json"
    }


def test_manifest_json_matches_returned_manifest(city: City) -> None:
    on_disk = json.loads((city.out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(city.manifest.to_dict(), ensure_ascii=False))
    assert on_disk["as_of"] == "2026-11-01"
    assert on_disk["subjects"] == N == sum(on_disk["counts"].values())
    for f in city.manifest.files:
        assert hashlib.sha256((city.out / f.path).read_bytes()).hexdigest() == f.sha256
        assert len(city.rows[f.path]) == f.rows


def test_every_subject_type_is_present(city: City) -> None:
    assert set(city.manifest.counts) == {t.value for t in SubjectType}
    assert all(n > 0 for n in city.manifest.counts.values())
    labels = {r["DJ_ZTLX"] for p, rows in city.rows.items() if "registration" in p for r in rows}
    assert {t.label for t in SubjectType} <= labels


def test_departments_have_valid_city_level_codes(city: City) -> None:
    assert len(city.manifest.departments) == 20
    for d in city.manifest.departments:
        code = parse_uscc(d["code"])
        assert code.division_code == "610800"
        assert d["slug"].isascii()
    # Each department's kind is the catalog's (catalog.yaml lists the same departments), and
    # its USCC's type agrees: a government body's 11…, a public institution's 12…, a
    # utility's (an enterprise) 91….
    catalog = {x.name: x.kind for x in default_catalog().departments}
    by_type = {"government": "government_body", "court": "government_body"}
    by_type |= {"credit_office": "government_body", "utility": "enterprise"}
    for d in city.manifest.departments:
        assert d["kind"] == catalog[d["name"]], d["name"]
        expected = by_type.get(d["kind"], d["kind"])
        assert subject_type_for_uscc(parse_uscc(d["code"])).value == expected, d["name"]


def test_files_are_named_and_ordered(city: City) -> None:
    files = city.manifest.files
    for seq, f in enumerate(files, start=1):
        assert re.fullmatch(rf"{seq:02d}-[a-z]+-{f.item}(-correction)?\.(csv|xlsx|json)", f.path)
        assert tuple(city.rows[f.path][0]) == ITEM_FIELDS[f.item] if city.rows[f.path] else True
    kinds = [f.item == "registration" and f.kind == "initial" for f in files]
    assert kinds == sorted(kinds, reverse=True)  # registrations come first
    assert [f.format for f in files].count("xlsx") == 1
    assert [f.format for f in files].count("json") == 1
    encodings = Counter(f.encoding for f in files if f.format == "csv")
    assert encodings["gbk"] >= 2 and encodings["utf-8-sig"] >= 2 and encodings["utf-8"] >= 2


def test_gbk_files_are_gb18030_not_utf8_and_bom_files_start_with_bom(city: City) -> None:
    for f in city.manifest.files:
        data = (city.out / f.path).read_bytes()
        if f.encoding == "gbk":
            data.decode("gb18030")
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        elif f.encoding == "utf-8-sig":
            assert data.startswith(b"\xef\xbb\xbf")
        elif f.format == "csv":
            assert not data.startswith(b"\xef\xbb\xbf")


def _good_rows(city: City) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for f in city.manifest.files:
        bad = {r for r, a in anomalies(city, f.path).items() if a["kind"] in BAD_KINDS}
        out += [(f.item, f.path, row) for i, row in enumerate(city.rows[f.path], 1) if i not in bad]
    return out


BAD_KINDS = {"bad_check", "missing_required", "impossible_date", "future_date", "unknown_enum"}


def test_good_rows_have_valid_codes_matching_their_type(city: City) -> None:
    checked = 0
    for item, _path, row in _good_rows(city):
        roles = ROLES[item]
        if row.get(roles.uscc):
            code = parse_uscc(row[roles.uscc])
            assert code.warnings == ()
            if item == "registration":
                declared = SUBJECT_TYPE_BY_LABEL[row["DJ_ZTLX"]]
                assert declared in allowed_subject_types(code)
                if declared is not SubjectType.other_organisation:
                    assert subject_type_for_uscc(code) is declared
            checked += 1
        if roles.id_number and row.get(roles.id_number):
            parse_id_number(row[roles.id_number], today=AS_OF)
            checked += 1
        if roles.reg_no and row.get(roles.reg_no) not in ("", "暂无", None):
            parse_registration_no(row[roles.reg_no])
        for f in ("XK_XKJGDM", "CF_CFJGDM", "YZ_RDJGDM", "XK_LYDWDM", "CF_SJLYDM"):
            if row.get(f):
                parse_uscc(row[f])
    assert checked > N


def test_registration_rows_are_consistent(city: City) -> None:
    for f in city.manifest.files:
        if f.item != "registration":
            continue
        odd = anomalies(city, f.path)
        for row in (r for i, r in enumerate(city.rows[f.path], 1) if i not in odd):
            _check_registration(row)


def _check_registration(row: dict[str, str]) -> None:
    if True:
        county = row["DJ_XZQH"]
        prefix = f"陕西省榆林市{COUNTY_NAMES[county]}"
        assert row["DJ_ZS"].startswith(prefix)
        rest = row["DJ_ZS"][len(prefix) :]
        assert any(rest.startswith(t.name) for t in towns(county)), row["DJ_ZS"]
        kind = SUBJECT_TYPE_BY_LABEL[row["DJ_ZTLX"]]
        assert bool(row["DJ_ZJHM"]) == kind.is_person
        assert bool(row["DJ_SHXYM"]) != kind.is_person
        assert bool(row["DJ_ZYBQ"]) == (kind is SubjectType.natural_person)
        assert row["DJ_ZT"] in ("存续", "注销", "吊销")
        assert row["DJ_LXDH"] == "暂无" or re.fullmatch(r"1\d{10}|0912-\d{7}", row["DJ_LXDH"])


def test_bad_rows_are_bad_in_the_stated_way(city: City) -> None:
    seen: Counter[str] = Counter()
    for f in city.manifest.files:
        rows = city.rows[f.path]
        for n, a in anomalies(city, f.path).items():
            kind, row = a["kind"], rows[n - 1]
            if kind not in BAD_KINDS:
                continue
            seen[kind] += 1
            field = a["field"]
            if kind == "bad_check":
                parse = parse_uscc if field == ROLES[f.item].uscc else parse_id_number
                with pytest.raises(FieldError) as err:
                    parse(row[field])
                assert err.value.code == "checksum"
            elif kind == "missing_required":
                assert row[field] == "" and field in ROLES[f.item].required
            elif kind == "impossible_date":
                with pytest.raises(ValueError, match=r"range|must be"):
                    parse_date(row[field])
            elif kind == "future_date":
                assert parse_date(row[field]) > AS_OF
            else:
                assert row[field] not in ENUMS[field]
        assert f.expected["bad"] == sum(a["kind"] in BAD_KINDS for a in f.anomalies)
    assert set(seen) == BAD_KINDS


def test_bad_share_is_respected(city: City, tmp_path: Path) -> None:
    total = sum(f.rows for f in city.manifest.files)
    bad = sum(f.expected["bad"] for f in city.manifest.files)
    assert 0.03 < bad / total < 0.07
    clean = generate_city(tmp_path, subjects=120, seed=1, bad_share=0.0)
    assert sum(f.expected["bad"] for f in clean.files) == 0


def test_good_dates_are_real_and_not_after_as_of(city: City) -> None:
    for item, _path, row in _good_rows(city):
        field = ROLES[item].decision_date
        if row.get(field):
            d = parse_date(row[field])
            assert d <= AS_OF
            if item not in ("registration", "tax_credit_grade"):
                assert d >= date(2022, 10, 1), (item, row[field])


def test_duplicates_are_exact_repeats(city: City) -> None:
    dups = 0
    for f in city.manifest.files:
        rows = city.rows[f.path]
        for n, a in anomalies(city, f.path).items():
            if a["kind"] == "duplicate":
                assert rows[n - 1] == rows[int(a["of_row"]) - 1]
                dups += 1
        assert f.expected["duplicate"] == sum(a["kind"] == "duplicate" for a in f.anomalies)
    assert dups > 0


def test_codeless_rows_match_or_not_as_stated(city: City) -> None:
    reg = []
    for f in city.manifest.files:
        if f.item == "registration":
            odd = anomalies(city, f.path)
            reg += [r for i, r in enumerate(city.rows[f.path], 1) if i not in odd]
    names = {r["DJ_MC"] for r in reg}
    reg_nos = {r["DJ_GSZC"] for r in reg}
    org_codes = {r["DJ_ZZJG"].replace("-", "") for r in reg}
    places = {(r["DJ_MC"], r["DJ_ZS"]) for r in reg if r["DJ_SHXYM"]}
    kinds: Counter[str] = Counter()
    for f in city.manifest.files:
        roles = ROLES[f.item]
        for n, a in anomalies(city, f.path).items():
            if not str(a["kind"]).startswith("codeless"):
                continue
            row = city.rows[f.path][n - 1]
            kinds[a["kind"]] += 1
            assert row[roles.uscc] == ""
            if a["kind"] == "codeless_regno":
                assert row[roles.reg_no] in reg_nos
            elif a["kind"] == "codeless_orgcode":
                assert row[roles.org_code].replace("-", "") in org_codes
            elif a["kind"] == "codeless_name":
                assert row[roles.name] in names
            elif a["kind"] == "codeless_name_address":
                assert (row["DJ_MC"], row["DJ_ZS"]) in places
                assert row["DJ_GSZC"] == row["DJ_ZZJG"] == ""
            else:
                assert row[roles.name] not in names
    assert kinds["codeless_name"] and kinds["codeless_unmatchable"]
    assert kinds["codeless_name_address"] and kinds["codeless_regno"] + kinds["codeless_orgcode"]


def test_minors_are_14_to_17_at_decision(city: City) -> None:
    minors = 0
    for f in city.manifest.files:
        for n, a in anomalies(city, f.path).items():
            if a["kind"] == "minor":
                row = city.rows[f.path][n - 1]
                born = parse_id_number(row["CF_XDR_ZJHM"], today=AS_OF).birth_date
                decided = parse_date(row["CF_JDRQ"])
                age = (
                    decided.year
                    - born.year
                    - ((decided.month, decided.day) < (born.month, born.day))
                )
                assert 14 <= age <= 17
                minors += 1
    assert minors == sum(f.expected["minors"] for f in city.manifest.files) > 0


def test_corrections_keep_key_and_change_content(city: City) -> None:
    by_path = {f.path: f for f in city.manifest.files}
    corrections = [f for f in city.manifest.files if f.kind == "correction"]
    assert corrections
    for f in corrections:
        source = city.rows[by_path[f.source].path]
        assert by_path[f.source].item == f.item
        for n, a in anomalies(city, f.path).items():
            row, old = city.rows[f.path][n - 1], source[int(a["source_row"]) - 1]
            assert all(row[k] == old[k] for k in ROLES[f.item].key)
            assert row != old
            if a["kind"] == "withdrawal":
                assert row["BZ"].startswith("撤销：")
    withdrawn = city.manifest.withdrawals
    assert withdrawn
    for w in withdrawn:
        assert w["reason"] and w["item"] in ("penalty", "licence")
        source_rows = city.rows[w["source_file"]]
        assert any(all(r[k] == v for k, v in w["key"].items()) for r in source_rows)


def test_record_keys_are_unique_per_subject(city: City) -> None:
    seen: dict[str, set[tuple[str, ...]]] = {}
    for f in city.manifest.files:
        if f.kind != "initial":
            continue
        roles = ROLES[f.item]
        odd = anomalies(city, f.path)
        keys = seen.setdefault(f.item, set())
        for i, row in enumerate(city.rows[f.path], 1):
            if i in odd and odd[i]["kind"] != "minor" and not odd[i]["kind"].startswith("codeless"):
                continue
            subject = row[roles.uscc] or row.get(roles.id_number, "") or row[roles.name]
            key = (subject, *(row[k] for k in roles.key))
            assert key not in keys, (f.path, key)
            keys.add(key)


def test_record_volumes_are_roughly_as_planned(city: City) -> None:
    per_item: Counter[str] = Counter()
    for f in city.manifest.files:
        if f.kind == "initial":
            per_item[f.item] += f.rows
    c = city.manifest.counts
    orgs = N - c["natural_person"] - c["farm_household"]
    assert per_item["registration"] >= N - city.manifest.extra["minors"]
    assert 0.2 * orgs < per_item["licence"] < 1.5 * orgs
    assert 0.05 * N < per_item["penalty"] < 0.2 * N
    assert 1.5 * c["enterprise"] < per_item["tax_credit_grade"] < 2.2 * c["enterprise"]
    assert 0.05 * N < per_item["commitment"] < 0.15 * N
    for item in ITEM_FIELDS:
        assert per_item[item] > 0, item


def test_organisation_names_are_varied() -> None:
    subjects = build_subjects(random.Random(99), 5000, AS_OF)
    orgs = [s.name for s in subjects if not s.is_person]
    assert len(set(orgs)) / len(orgs) >= 0.95
    assert not [n for n in orgs if n[-1].isdigit()]  # never fell back to numbering
    enterprises = [s.name for s in subjects if s.type is SubjectType.enterprise]
    trade = Counter(n[3:5] for n in enterprises)
    assert trade.most_common(1)[0][1] < len(enterprises) * 0.05
    words = "煤 化工 兰炭 能源 电力 光伏 风电 天然气 苹果 马铃薯 羊 旅游 文旅 商贸 建 运输 餐饮"
    for word in words.split(" "):
        assert any(word in n for n in enterprises), word


def test_names_and_addresses_encode_in_gbk() -> None:
    subjects = build_subjects(random.Random(3), 2000, AS_OF)
    for s in subjects:
        (s.name + s.address + s.legal_rep + s.authority).encode("gbk")


def test_ids_use_retired_codes_for_some_older_people() -> None:
    subjects = build_subjects(random.Random(4), 3000, AS_OF)
    ids = [s.id_number for s in subjects if s.id_number]
    assert any(i.startswith(("610821", "610823")) for i in ids)
    usccs = [s.uscc for s in subjects if s.uscc]
    assert any(u[2:8] in ("610821", "610823") for u in usccs)
    assert any(u[2:8] == "610800" for u in usccs)
    assert len(set(ids)) == len(ids) and len(set(usccs)) == len(usccs)
    assert [s for s in subjects if s.reg_no]
    for s in subjects:
        if s.reg_no:
            parse_registration_no(s.reg_no)
        if s.org_code:
            assert s.org_code == s.uscc[8:17]


def test_too_few_subjects_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_city(tmp_path, subjects=5, seed=1)


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[int] = []
    generate_city(tmp_path, subjects=100, seed=2, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == 100
