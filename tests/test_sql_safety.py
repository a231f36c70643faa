"""SQL never carries a user value in its text (issue 7): values go in as parameters, and the
only things ever formatted into SQL are identifiers chosen from a fixed list.

A static check over the library source, so a new f-string query fails here before review:
- sql/*.sql hold no Python-style placeholders ({name}, %s, %(name)s) that code could fill in;
- statements read from sql/ are never .format()-ed, %-formatted or concatenated with values;
- every f-string (or .format / % string) in lib/cachecast whose text reads as SQL interpolates
  only expressions on ALLOWED below, each with the reason it is an identifier, not a value.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "cachecast"
SQL_WORDS = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|FROM|WHERE|CREATE|DROP|JOIN|VALUES|COPY|"
                       r"ATTACH|PRAGMA|ALTER TABLE|ORDER BY|GROUP BY)\b")

# (file relative to lib/cachecast, expression as ast.unparse writes it) -> why it is safe
ALLOWED = {
    ("plan/calibration.py", "status"): "a column name picked from the fixed tuple ('result_type', 'status', 'type')",
    ("plan/calibration.py", "where"): "built above from `status` (allow-listed) and constant text",
    ("plan/calibration.py", "join"): "one of two constant JOIN clauses",
}


def _sources() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(LIB)), ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
            for p in sorted(LIB.rglob("*.py"))]


def _literal_text(node: ast.JoinedStr) -> str:
    return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))


def _is_checked(expr: ast.expr) -> bool:
    """checked_identifier(name, allowed) is the store's allow-list gate: always fine."""
    call = expr
    return (isinstance(call, ast.Call) and
            (getattr(call.func, "id", None) == "checked_identifier" or
             getattr(call.func, "attr", None) == "checked_identifier"))


def _reads_sql_file(node: ast.expr) -> bool:
    """A call that returns statement text from sql/ (store.query, store.read_sql, queries()[...])."""
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Call):
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        return name in {"query", "read_sql", "queries"}
    return False


def find_interpolations() -> list[tuple[str, int, str]]:
    """(file, line, expression) for every value formatted into SQL-looking text."""
    found = []
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and SQL_WORDS.search(_literal_text(node)):
                for part in node.values:
                    if isinstance(part, ast.FormattedValue) and not _is_checked(part.value):
                        found.append((rel, node.lineno, ast.unparse(part.value)))
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "format":
                target = node.func.value
                if (isinstance(target, ast.Constant) and isinstance(target.value, str)
                        and SQL_WORDS.search(target.value)) or _reads_sql_file(target):
                    found.append((rel, node.lineno, ast.unparse(node)))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
                for side in (node.left, node.right):
                    sql_text = isinstance(side, ast.Constant) and isinstance(side.value, str) and \
                        SQL_WORDS.search(side.value)
                    other = node.right if side is node.left else node.left
                    if (sql_text and not isinstance(other, (ast.Constant, ast.JoinedStr, ast.BinOp))) or \
                            _reads_sql_file(side):
                        found.append((rel, node.lineno, ast.unparse(node)))
                        break
    return found


def test_sql_text_interpolates_only_allow_listed_identifiers():
    unexpected = [(f, line, expr) for f, line, expr in find_interpolations() if (f, expr) not in ALLOWED]
    assert not unexpected, ("values formatted into SQL text; pass them as parameters (? or $name), or run "
                            f"identifiers through store.checked_identifier: {unexpected}")


def test_allow_list_has_no_stale_entries():
    """An entry nobody needs any more is a hole waiting for a value: drop it."""
    used = {(f, expr) for f, _, expr in find_interpolations()}
    assert set(ALLOWED) <= used, sorted(set(ALLOWED) - used)


SQL_FILES = sorted((LIB / "sql").rglob("*.sql"))
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\([A-Za-z_]+\)[sd]|%[sd]\b")


@pytest.mark.parametrize("path", SQL_FILES, ids=[str(p.relative_to(LIB / "sql")) for p in SQL_FILES])
def test_sql_files_have_no_format_placeholders(path):
    code = "\n".join(line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    code = INCLUDE.sub("", code)  # {{file.sql:name}} includes another file's SQL text, never a value
    assert not PLACEHOLDER.findall(code), f"{path.name}: use $name parameters, not text placeholders"


INCLUDE = re.compile(r"\{\{(?:[a-z0-9_]+/[a-z0-9_]+\.sql:)?[a-z0-9_]+\}\}")


def test_includes_name_sql_fragments_only_and_a_missing_one_fails_loudly(tmp_path, monkeypatch):
    """An include is replaced by a named statement of a file under sql/ (cachecast.store.queries):
    SQL text written in this repository, never a value; a name that is not there is an error,
    not an empty string."""
    from cachecast import store

    for path in SQL_FILES:
        name = str(path.relative_to(LIB / "sql"))
        for statement in store.queries(name).values():
            assert "{{" not in statement, name  # every include resolved
    assert "STRUCT(input_tokens JSON" in store.query("store/ingest.sql", "insert_parsed")
    sql = tmp_path / "sql" / "x"
    sql.mkdir(parents=True)
    (sql / "a.sql").write_text("-- name: part\nINTEGER\n\n-- name: q\nSELECT CAST(1 AS {{nope}})\n")
    monkeypatch.setattr(store, "read_sql", lambda f: (tmp_path / "sql" / f).read_text())
    store.queries.cache_clear()
    try:
        with pytest.raises(KeyError, match="no fragment named 'nope'"):
            store.queries("x/a.sql")
    finally:
        store.queries.cache_clear()


def test_the_checker_catches_what_it_should(tmp_path, monkeypatch):
    """The scanner itself can fail: a value in an f-string query, a .format on a statement
    from sql/, and a concatenation are all reported; parameters and checked names are not."""
    (tmp_path / "bad.py").write_text(
        "def f(conn, cid, store, col):\n"
        "    conn.execute(f\"SELECT * FROM results WHERE custom_id = '{cid}'\")\n"
        "    conn.execute(store.query('x.sql', 'q').format(cid))\n"
        "    conn.execute(\"DELETE FROM results WHERE custom_id = '\" + cid + \"'\")\n"
        "    conn.execute(\"SELECT * FROM results WHERE custom_id = ?\", [cid])\n"
        "    conn.execute(f\"SELECT {checked_identifier(col, ['a'])} FROM results\")\n"
        "    raise ValueError(f'custom id {cid} is bad')\n")
    monkeypatch.setattr(__import__(__name__), "LIB", tmp_path)
    found = [(line, expr) for _, line, expr in find_interpolations()]
    assert [line for line, _ in found] == [2, 3, 4]
    assert found[0][1] == "cid" and found[1][1] == "store.query('x.sql', 'q').format(cid)"
    assert found[2][1].endswith("+ cid")
