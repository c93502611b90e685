"""The documentation agrees with the code it describes."""

from __future__ import annotations

from pathlib import Path

from scripts.catalogue_table import catalogue_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_catalogue_in_the_quality_docs_is_the_one_the_tests_run():
    text = (DOCS / "quality.md").read_text()
    start = text.index("<!-- catalogue:start -->\n") + len("<!-- catalogue:start -->\n")
    end = text.index("<!-- catalogue:end -->")

    assert text[start:end] == catalogue_table()
