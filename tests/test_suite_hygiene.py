"""The suite's own rules, checked on its source.

- Every test asserts something: an ``assert``, ``pytest.raises`` or ``pytest.warns``, or a call
  of a helper whose name says it checks (``assert_…``, ``expect_…``, ``check_…``). A test that
  only runs code proves nothing but that it did not crash; name a checking helper so, or
  assert what the test is for.
- Tests go through public seams: no ``thing._private`` of another object (``self._x`` in a
  helper class is its own business; ``_`` is gettext's public name).
- Test modules do not import each other: what several share lives in ``tests/support``, whose
  docstring examples run.
"""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKING_CALLS = ("raises", "warns")
CHECKING_PREFIXES = ("assert_", "expect_", "check_")


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def checks_something(test: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True if ``test`` holds an assert or a call that checks (see the module docstring)."""
    for node in ast.walk(test):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in CHECKING_CALLS or name.startswith(CHECKING_PREFIXES):
                return True
    return False


def collected_tests(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The test functions pytest collects from a module: ``test_*`` at top level or in ``Test*``."""
    scopes: list[ast.stmt] = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            scopes += node.body
    return [
        node
        for node in scopes
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]


def test_every_test_asserts_something() -> None:
    silent = [
        f"{path.name}::{test.name}"
        for path in sorted(TESTS.glob("test_*.py"))
        for test in collected_tests(ast.parse(path.read_text(), filename=str(path)))
        if not checks_something(test)
    ]
    assert silent == []


def _sources() -> list[tuple[Path, ast.Module]]:
    paths = sorted(TESTS.glob("test_*.py")) + sorted((TESTS / "support").glob("*.py"))
    return [(path, ast.parse(path.read_text(), filename=str(path))) for path in paths]


def test_no_test_reaches_into_private_attributes() -> None:
    reached = [
        f"{path.relative_to(TESTS)}:{node.lineno}: {ast.unparse(node)}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and node.attr != "_"
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert reached == []


def test_test_modules_do_not_import_each_other() -> None:
    imports = {
        f"{path.name} imports {node.module}"
        for path, tree in _sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (node.module == "tests.conftest" or node.module.startswith("tests.test_"))
    }
    assert sorted(imports) == []


def test_the_support_examples_run() -> None:
    with_examples = [
        path.stem for path in sorted((TESTS / "support").glob("*.py")) if ">>>" in path.read_text()
    ]
    assert with_examples  # the finder still finds them
    for name in with_examples:
        result = doctest.testmod(importlib.import_module(f"tests.support.{name}"))
        assert (result.failed, result.attempted > 0) == (0, True), name


def test_the_checker_tells_a_silent_test_from_a_checking_one() -> None:
    tree = ast.parse(
        "def test_silent():\n    run()\n"
        "def test_asserts():\n    assert run()\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        run()\n"
        "def test_helper():\n    expect_done(run())\n"
        "class TestGroup:\n    def test_method(self):\n        self.check_all()\n"
    )
    assert {test.name: checks_something(test) for test in collected_tests(tree)} == {
        "test_silent": False,
        "test_asserts": True,
        "test_raises": True,
        "test_helper": True,
        "test_method": True,
    }
