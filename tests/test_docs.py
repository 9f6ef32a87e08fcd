"""docs/DESIGN.md holds the metric reference the METRICS table gives today."""

from pathlib import Path

from core.metrics import all_metrics
from core.metrics.reference import END, START, reference_markdown, with_reference

DESIGN = Path(__file__).resolve().parent.parent / "docs" / "DESIGN.md"


def test_the_metric_reference_in_the_design_is_current():
    document = DESIGN.read_text()
    assert with_reference(document) == document, "stale: run python -m core.metrics.reference"


def test_the_reference_lists_every_metric_once():
    block = reference_markdown()
    assert block.startswith(START) and block.endswith(END)
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    assert sorted(row.split("`")[1] for row in rows) == sorted(all_metrics())


def test_a_changed_table_makes_the_document_stale():
    document = DESIGN.read_text()
    edited = document.replace("| `code_perplexity` |", "| `code_perplexity_old` |")
    assert edited != document
    assert with_reference(edited) != edited


def test_readme_points_to_the_design_in_the_repository():
    readme = (DESIGN.parent.parent / "README.md").read_text()
    assert "docs/DESIGN.md" in readme and "shared/DESIGN.md" not in readme
