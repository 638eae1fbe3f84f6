"""The README stays a short front door, and every relative link in it and in docs/ points to a file that exists."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(path: Path) -> list[str]:
    """Targets of the Markdown links `](target)` that are not web addresses, without their #anchor."""
    targets = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:, ...
            continue
        target = target.split("#", 1)[0]
        if target:  # a bare #anchor points into the same file
            targets.append(target)
    return targets


def test_the_readme_has_at_most_250_lines():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= 250, f"README.md has {lines} lines; move detail into docs/ and link it"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_to_existing_files(path):
    missing = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(REPO)} links to files that do not exist: {missing}"


def test_the_link_pattern_finds_links():
    readme = relative_links(REPO / "README.md")
    assert "docs/results.md" in readme and "docs/configuration.md" in readme
