"""Packaging: `core/` installs as the package `collapse_explorer` with a `collapse-explorer` command.

The wheel test builds the sdist and, from it, the wheel (`python -m build --no-isolation`, so nothing is
downloaded) from a copy of the files the build reads, installs the wheel with `--no-deps` into a fresh
venv and runs it from a folder outside the checkout. That venv has no packages of its own: one `.pth` line
adds the project venv's site-packages (torch and the rest), so the wheel's files, metadata and entry point
are what is tested, and a separate test checks that the pinned versions satisfy the declared
dependencies (installing the wheel there would pull nothing new).
"""

from __future__ import annotations

import ast
import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEMO_CHECKPOINT = ROOT / "assets/demo/codebook/collapsing/vqvae_epoch_040.pt"
BUILD_INPUTS = ("pyproject.toml", "README.md", "core")


def _declared() -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "__future__"}


def test_every_import_of_the_library_is_a_declared_dependency():
    providers = packages_distributions()
    declared = _declared()
    missing = {}
    for module in sorted(_third_party_imports()):
        dists = {canonicalize_name(d) for d in providers.get(module, [module])}
        if not dists & declared.keys():
            missing[module] = sorted(dists)
    assert not missing, f"imported by core/ but not declared in pyproject.toml: {missing}"


def test_pinned_requirements_satisfy_the_declared_ranges():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    for name, req in _declared().items():
        assert name in pins, f"{name} is declared but not pinned in requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req}"


def test_every_source_folder_is_a_listed_package():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"collapse_explorer": "core"}
    folders = {p.parent for p in (ROOT / "core").rglob("*.py") if "__pycache__" not in p.parts}
    expected = {
        ".".join(("collapse_explorer", *folder.relative_to(ROOT / "core").parts)) for folder in folders
    }
    assert set(setuptools["packages"]) == expected
    assert PYPROJECT["project"]["scripts"] == {"collapse-explorer": "collapse_explorer.cli:main"}


def _fresh_venv(where: Path) -> Path:
    """A venv with no packages of its own that sees the project venv's site-packages; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages())
    Path(purelib, "_project_dependencies.pth").write_text(lines)
    return python


PIP_OFFLINE = ("--no-deps", "--no-index", "--no-build-isolation", "--disable-pip-version-check")


def _pip_install(python: Path, *args: str) -> None:
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run([*pip, *PIP_OFFLINE, *args], check=True)


def _outside_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=_outside_env(), capture_output=True, text=True, timeout=120)


def _copy_build_inputs(to: Path) -> Path:
    to.mkdir()
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, to / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, to / name)
    return to


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    src = _copy_build_inputs(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("collapse_explorer-*.whl")
    assert len(list(dist.glob("collapse_explorer-*.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.endswith(".py")}
        entry_points = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("entry_points.txt"))
    sources = {
        "collapse_explorer/" + p.relative_to(ROOT / "core").as_posix()
        for p in (ROOT / "core").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert shipped == sources
    assert "collapse-explorer = collapse_explorer.cli:main" in entry_points

    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, str(wheel))
    work = tmp_path / "elsewhere"
    work.mkdir()
    command = str(python.parent / "collapse-explorer")

    helped = _run([command, "--help"], work)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: collapse-explorer")
    for sub in ("inspect", "diagnose", "report"):
        assert sub in helped.stdout

    diagnosed = _run([command, "diagnose", str(DEMO_CHECKPOINT), "--json"], work)
    assert diagnosed.returncode == 1, diagnosed.stderr
    assert '"severity": "collapse"' in diagnosed.stdout

    where = _run(
        [
            str(python),
            "-c",
            "import collapse_explorer, collapse_explorer.guard, collapse_explorer.models.codebook, sys; "
            "print(collapse_explorer.__file__); print('streamlit' in sys.modules)",
        ],
        work,
    )
    assert where.returncode == 0, where.stderr
    installed, streamlit_loaded = where.stdout.split()
    assert Path(installed).is_relative_to(tmp_path / "venv")
    assert streamlit_loaded == "False"
    no_core = _run([str(python), "-c", "import core"], work)
    assert no_core.returncode == 1
    assert "No module named 'core'" in no_core.stderr


@pytest.mark.slow
def test_editable_install_maps_the_package_onto_the_source_folder(tmp_path):
    src = _copy_build_inputs(tmp_path / "checkout")
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, "-e", str(src))
    work = tmp_path / "elsewhere"
    work.mkdir()
    shown = _run(
        [str(python), "-c", "import collapse_explorer.cli as c, collapse_explorer.guard; print(c.__file__)"],
        work,
    )
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()) == src / "core" / "cli.py"
    helped = _run([str(python.parent / "collapse-explorer"), "--help"], work)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: collapse-explorer"), helped.stderr
