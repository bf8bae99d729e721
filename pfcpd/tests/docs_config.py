"""The minimal configuration file docs/pfcpd.md shows ("A minimal file:"), read from the
docs, so that the tests using it and the docs cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def minimal_config_text() -> str:
    """The YAML block that follows "A minimal file:" in docs/pfcpd.md."""
    text = (DOCS / "pfcpd.md").read_text(encoding="utf-8")
    found = re.search(r"A minimal file:\s*```yaml\n(.*?)```", text, re.DOTALL)
    assert found, "docs/pfcpd.md has no 'A minimal file:' YAML block"
    return found.group(1)
