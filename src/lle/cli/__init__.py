"""Entry points: one module per console script."""

import re


def description(doc: str) -> str:
    """The help's description from a console script's docstring: its first paragraph without the leading
    "`command …`: " (argparse prints the usage line just above), starting with a capital."""
    first = " ".join(doc.split("\n\n")[0].split())
    text = re.sub(r"^`[^`]*`:\s*", "", first)
    return text[:1].upper() + text[1:]
