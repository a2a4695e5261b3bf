"""The layering rules, checked on the source and in fresh interpreters.

- Only `service/api/` and `service/console/` import FastAPI or Starlette; a worker process loads neither.
- `indexers/` (the library) imports no FastAPI, Celery, `service`, `workers` or `evals`, and takes no
  configuration from the environment.
- `service/` never imports `workers` (jobs are enqueued by task name); `service/core/` and
  `service/schemas/` never import the HTTP layer; `service/schemas/` imports only pydantic, the
  standard library, light library modules and itself.
- Every module that others import from declares `__all__`, and a module's `__all__` lists each of its
  public functions and classes.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("indexers", "service", "workers", "evals", "benchmarks")
WEB = {"fastapi", "starlette"}
SCHEMA_DEPENDENCIES = {"pydantic", "indexers.configs", "indexers.memory.units", "service.schemas"}
ENVIRON_WRITES = {"setdefault", "update"}


def modules(*folders: str) -> Iterator[Path]:
    """Every Python file under the given folders of the repository."""
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def exists(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@functools.cache
def imports(path: Path) -> frozenset[str]:
    """Absolute names of the modules the file at `path` imports (see `parse_imports`)."""
    return frozenset(
        parse_imports(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    )


def parse_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of the modules `source` (the code of `module`) imports anywhere, functions
    included; for `from package import name`, `package.name` when that is a module of the repository."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = (f"{anchor}.{node.module}" if node.module else anchor) if node.level else node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if exists(child) else base)
    return found


def within(name: str, roots: set[str]) -> bool:
    return any(name == root or name.startswith(f"{root}.") for root in roots)


def offenders(paths: Iterator[Path], forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if within(name, forbidden)
    ]


def loaded_after_import(*names: str) -> list[str]:
    """The top-level packages in `sys.modules` after importing `names` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(names)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_a_worker_process_loads_no_web_framework() -> None:
    assert WEB.isdisjoint(loaded_after_import("workers.tasks"))


def test_schemas_and_job_payloads_load_no_web_framework() -> None:
    light = [module_name(path) for path in modules("service/schemas")] + ["service.jobs", "service.settings"]
    assert WEB.isdisjoint(loaded_after_import(*light))


def test_only_the_api_and_the_console_import_the_web_framework() -> None:
    allowed = (ROOT / "service" / "api", ROOT / "service" / "console")
    paths = (path for path in modules(*PACKAGES) if not any(path.is_relative_to(a) for a in allowed))
    assert offenders(paths, WEB) == []


def test_the_library_imports_no_service_worker_eval_or_framework_code() -> None:
    assert offenders(modules("indexers"), {*WEB, "celery", "service", "workers", "evals"}) == []


def environ_reads(source: str) -> list[str]:
    """Lines where `source` reads the environment: `os.getenv`, `os.environ` used other than to set
    a variable (`os.environ[key] = value`, or a bare `os.environ.setdefault(...)` statement), or
    `from os import environ / getenv`."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            reads += [(node.lineno, f"from os import {a.name}") for a in node.names if "env" in a.name]
        if not (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
        ):
            continue
        parent = parents[node]
        if node.attr in ("getenv", "getenvb"):
            reads.append((node.lineno, f"os.{node.attr}"))
        elif node.attr in ("environ", "environb"):
            if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del):
                continue
            if (
                isinstance(parent, ast.Attribute)
                and parent.attr in ENVIRON_WRITES
                and isinstance(parents[parents[parent]], ast.Expr)
            ):
                continue
            reads.append((node.lineno, f"os.{node.attr}"))
    return [f"line {line}: {what}" for line, what in sorted(reads)]


def test_environ_reads_tell_reads_from_writes() -> None:
    source = (
        "import os\n"
        "os.environ['A'] = '1'\n"
        "os.environ.setdefault('B', '2')\n"
        "x = os.environ.get('C')\n"
        "y = os.environ.setdefault('D', '4')\n"
        "z = os.getenv('E')\n"
        "from os import environ\n"
    )
    assert environ_reads(source) == [
        "line 4: os.environ",
        "line 5: os.environ",
        "line 6: os.getenv",
        "line 7: from os import environ",
    ]


def test_the_library_reads_no_environment() -> None:
    reads = [
        f"{path.relative_to(ROOT)} {read}"
        for path in modules("indexers")
        for read in environ_reads(path.read_text(encoding="utf-8"))
    ]
    assert reads == []


def test_the_service_never_imports_the_workers() -> None:
    assert offenders(modules("service"), {"workers"}) == []


def test_domain_code_and_schemas_never_import_the_http_layer() -> None:
    paths = modules("service/core", "service/schemas")
    assert offenders(paths, {*WEB, "service.api", "service.console", "service.cli"}) == []


def test_schemas_import_only_pydantic_the_standard_library_and_light_modules() -> None:
    heavy = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("service/schemas")
        for name in sorted(imports(path))
        if name.partition(".")[0] not in sys.stdlib_module_names and not within(name, SCHEMA_DEPENDENCIES)
    ]
    assert heavy == []


def declared_all(path: Path) -> list[str] | None:
    """The names in the module's `__all__`, or None when it has none."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return None


def source_path(name: str) -> Path:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def test_every_module_imported_elsewhere_declares_all() -> None:
    imported = {
        name
        for path in modules(*PACKAGES, "tests")
        for name in imports(path)
        if within(name, set(PACKAGES)) and name != module_name(path) and exists(name)
    }
    missing = [name for name in sorted(imported) if declared_all(source_path(name)) is None]
    assert missing == []


def test_all_lists_every_public_function_and_class() -> None:
    unlisted = []
    for path in modules(*PACKAGES):
        names = declared_all(path)
        if names is None:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            public = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if public and not node.name.startswith("_") and node.name not in names:
                unlisted.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert unlisted == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from service.core import documents\n", {"service.core.documents"}),
        ("from service.core.errors import NotFound\n", {"service.core.errors"}),
        ("from . import answer\n", {"service.core.answer"}),
        ("from ..schemas.jobs import JobPublic\n", {"service.schemas.jobs"}),
        ("def f() -> None:\n    import fastapi.responses\n", {"fastapi.responses"}),
    ],
)
def test_imports_resolve_submodules_relative_and_nested_imports(source: str, expected: set[str]) -> None:
    assert parse_imports(source, "service.core.probe") == expected
