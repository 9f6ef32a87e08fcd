"""core/ is a library: it must never import Streamlit or the ui/ package."""

import ast
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
    tables reach a CSV only through core.encode.csv_frame (no formula cell)."""
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
