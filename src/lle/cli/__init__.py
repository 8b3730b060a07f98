"""Entry points: one module per console script."""

import re
import sys


def description(doc: str) -> str:
    """The help's description from a console script's docstring: its first paragraph without the leading
    "`command …`: " (argparse prints the usage line just above), starting with a capital."""
    first = " ".join(doc.split("\n\n")[0].split())
    text = re.sub(r"^`[^`]*`:\s*", "", first)
    return text[:1].upper() + text[1:]


def check_override_syntax(args: list[str]) -> None:
    """Exits with one message (status 2) when Hydra's override grammar cannot read an option, saying how to quote
    it: an unquoted value may not hold '=', letters outside ASCII or some punctuation (a path often does), and
    Hydra's own message shows only its parser's complaint."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:  # Hydra's flags, and the values some of them take
            continue
        try:
            parser.parse_overrides([arg])
        except OverrideParseException as err:
            key, _, value = arg.partition("=")
            inner, outer = ("'", '"') if "'" not in value else ('"', "'")
            quoted = f"{key}={inner}{value}{inner}"
            complaint = str(err).strip().splitlines()[0]
            print(
                f"error: Hydra cannot read the option {arg!r} ({complaint}). A value holding '=', a comma, brackets "
                f"or letters outside ASCII must be quoted for Hydra, and that quote for the shell: "
                f"{outer}{quoted}{outer}",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
