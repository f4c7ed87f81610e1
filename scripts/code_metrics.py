"""Code-shape figures for reviews: files over 400 lines, functions over 60 lines, test-to-code ratio.

    .venv/bin/python scripts/code_metrics.py            # summary
    .venv/bin/python scripts/code_metrics.py --list     # also name every long file and function

Python via ``ast`` (a function's length is its span including decorators and docstring), JavaScript by
lines only. Duplicates come from the ``duplicates`` tool of the workplace, mypy coverage from mypy.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE_LIMIT, FUNC_LIMIT = 400, 60


def py_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "migrations" not in p.parts)


def long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > FUNC_LIMIT:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", length))
    return found


def lines(path: Path) -> int:
    return sum(1 for _ in path.open(encoding="utf-8"))


def package_of(path: Path) -> str:
    rel = path.relative_to(ROOT / "tasks_app").parts
    return rel[0].removesuffix(".py") if len(rel) > 1 else "(top level)"


def main() -> None:
    listing = "--list" in sys.argv
    code = py_files(ROOT / "tasks_app")
    tests = py_files(ROOT / "tests")
    js = sorted(p for p in (ROOT / "static" / "tasks_app" / "js").rglob("*.js") if "tests" not in p.parts)
    big = [(str(p.relative_to(ROOT)), lines(p)) for p in [*code, *js] if lines(p) > FILE_LIMIT]
    funcs = [f for p in code for f in long_functions(p)]
    code_total, tests_total = sum(map(lines, code)), sum(map(lines, tests))
    print(f"Python files in tasks_app: {len(code)}, {code_total} lines; tests: {tests_total} lines")
    print(f"files over {FILE_LIMIT} lines (tasks_app + page scripts): {len(big)}")
    if listing:
        for name, n in sorted(big, key=lambda x: -x[1]):
            print(f"  {n:5}  {name}")
    print(f"functions over {FUNC_LIMIT} lines (tasks_app): {len(funcs)}")
    if listing:
        for name, n in sorted(funcs, key=lambda x: -x[1]):
            print(f"  {n:5}  {name}")
    code_lines: dict[str, int] = defaultdict(int)
    for p in code:
        code_lines[package_of(p)] += lines(p)
    test_lines: dict[str, int] = defaultdict(int)
    for p in tests:
        rel = p.relative_to(ROOT / "tests").parts
        test_lines[rel[0] if len(rel) > 1 else "(top level)"] += lines(p)
    print("lines of tasks_app per package (test directories are listed below):")
    for pkg, n in sorted(code_lines.items(), key=lambda x: -x[1]):
        print(f"  {pkg:14} {n:6}")
    print("lines of tests per directory:")
    for pkg, n in sorted(test_lines.items(), key=lambda x: -x[1]):
        print(f"  {pkg:14} {n:6}")
    total_code, total_tests = sum(code_lines.values()), sum(test_lines.values())
    print(f"test-to-code ratio: {total_tests / total_code:.2f} ({total_tests} / {total_code} lines)")


if __name__ == "__main__":
    main()
