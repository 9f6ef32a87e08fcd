"""core/ is a library in layers: it never imports Streamlit or ui/, and its modules import no cycle."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("streamlit", "ui")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_streamlit_or_ui():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & set(FORBIDDEN))
        for path in (ROOT / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 5  # the scan really saw the package


def test_only_app_pages_and_ui_import_streamlit():
    allowed = {"app.py", "pages", "ui", "tests", ".venv", "benchmarks"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in allowed and "streamlit" in _imports(path)
    ]
    assert offenders == []


def test_pages_do_no_file_io_or_torch():
    for page in (ROOT / "pages").glob("*.py"):
        imported = _imports(page)
        assert not imported & {"torch", "numpy", "os", "pickle", "shutil"}, page.name


def test_every_page_asks_for_the_router_first():
    """A page URL opened on a fresh server would otherwise run without the router (ui/router.py)."""
    for page in (ROOT / "pages").glob("*.py"):
        body = [n for n in ast.parse(page.read_text()).body if not isinstance(n, ast.Import | ast.ImportFrom)]
        first = (
            body[1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body[0]
        )
        assert ast.unparse(first) == "router.require()", page.name


def _calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text(), filename=str(path))) if isinstance(n, ast.Call)]


def test_charts_and_csv_go_through_the_output_encoding():
    """Issue 26: figures reach the browser through widgets.chart (no live Plotly markup from names) and
    tables reach a CSV only through core.io.encode.csv_frame (no formula cell)."""
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]:
        for call in _calls(path):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else ""
            if name == "plotly_chart" and path.name != "widgets.py":
                offenders.append(f"{path.name}:{call.lineno} plotly_chart")
            if name == "to_csv":
                inner = call.func.value
                wrapped = isinstance(inner, ast.Call) and getattr(inner.func, "id", "") == "csv_frame"
                if not wrapped:
                    offenders.append(f"{path.name}:{call.lineno} to_csv")
    assert offenders == []


def _core_modules() -> dict[str, Path]:
    """Dotted name -> file of every module under core/ (a package by its __init__.py)."""
    modules = {}
    for path in (ROOT / "core").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _core_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """core modules `name` imports, at module level or inside functions (not under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.add(submodule if submodule in modules else module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_among_core_modules():
    """Every import counts, inside functions too: a cycle hidden in a function is still a cycle."""
    modules = _core_modules()
    graph = {name: _core_imports(name, path, modules) for name, path in modules.items()}
    assert sum(len(edges) for edges in graph.values()) > 100  # the scan really saw the imports
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_top_level_holds_packages_and_applications_only():
    applications = {
        "__init__.py",
        "__main__.py",
        "cli.py",
        "config.py",
        "guard.py",
        "sweep.py",
        "timeline.py",
    }
    modules = {path.name for path in (ROOT / "core").glob("*.py")}
    assert modules == applications
    packages = {path.name for path in (ROOT / "core").iterdir() if (path / "__init__.py").exists()}
    assert packages == {
        "adapters",
        "demo",
        "diagnosis",
        "io",
        "metrics",
        "models",
        "plots",
        "report",
        "roles",
    }


def test_package_inits_only_import_and_re_export():
    for init in (ROOT / "core").rglob("__init__.py"):
        if init.parent == ROOT / "core":
            continue  # the package root holds the paths of the repository and its assets
        body = ast.parse(init.read_text()).body
        allowed = (ast.Import, ast.ImportFrom, ast.Expr, ast.Assign)
        assert all(isinstance(node, allowed) for node in body), init
        assigned = [t.id for node in body if isinstance(node, ast.Assign) for t in node.targets]
        assert set(assigned) <= {"__all__"}, init


def test_long_core_modules_say_why():
    """A module over 500 lines says in its docstring why it is one module ("Why one module: ...")."""
    for path in (ROOT / "core").rglob("*.py"):
        if len(path.read_text().splitlines()) > 500:
            docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert "Why one module:" in docstring, path.relative_to(ROOT)


def test_only_the_config_module_reads_the_environment():
    """COLLAPSE_EXPLORER_* settings are read in core/config.py; projection.py only points numba's cache."""
    readers = set()
    for path in (ROOT / "core").rglob("*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute) and ast.unparse(node) in ("os.environ", "os.getenv"):
                readers.add(str(path.relative_to(ROOT)))
    assert readers == {"core/config.py", "core/plots/flow/projection.py"}
    projection = (ROOT / "core/plots/flow/projection.py").read_text()
    assert all("NUMBA_CACHE_DIR" in line for line in projection.splitlines() if "os.environ" in line)


HEAVY = ("torch", "scipy", "sklearn", "pandas", "sacrebleu", "transformers", "peft", "umap", "safetensors")


def _module_imports(path: Path) -> list[str]:
    """Modules a script imports at its top level (`from ui import a, b` gives ui.a and ui.b)."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.append(
                    name if (ROOT / Path(*name.split("."))).with_suffix(".py").exists() else node.module
                )
    return found


def test_the_first_screen_imports_no_heavy_library():
    """app.py and the Overview (the page a cold app opens) import no torch, scipy, sklearn or pandas before
    the verdict strip: a shipped demo's stored verdict shows in about a second, not after four seconds of
    imports and a diagnosis on 2 cores (issue 25). The picture below the strip may import them."""
    modules = {name for script in ("app.py", "pages/overview.py") for name in _module_imports(ROOT / script)}
    code = f"import sys, {', '.join(sorted(modules))}; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", sorted(modules)
