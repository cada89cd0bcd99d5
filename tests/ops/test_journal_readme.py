"""The README's journal schema is the one the package writes."""

from pathlib import Path

from metalabel.ops.journal.schema import schema_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_journal_schema() -> None:
    text = README.read_text()
    section = text.split("<!-- journal-schema:start -->", 1)[1].split("<!-- journal-schema:end")[0]
    assert section.strip() == schema_markdown().strip()
