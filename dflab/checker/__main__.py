"""``python -m dflab.checker SESSION_DIR``: the session's checker, as ``dflab session start`` runs it (detached).

Its standard output and error are ``<session>/logs/checker/checker.log``; everything written there goes through
:class:`dflab.grading.sanitize.PrintableStream` and every log record through ``PrintableLogFilter``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from dflab.errors import DflabError


def main(argv: list[str] | None = None) -> int:
    from dflab.grading.sanitize import PrintableLogFilter, PrintableStream

    sys.stdout, sys.stderr = PrintableStream(sys.stdout), PrintableStream(sys.stderr)
    ap = argparse.ArgumentParser(prog="python -m dflab.checker", description=__doc__)
    ap.add_argument("session_dir", type=Path)
    args = ap.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PrintableLogFilter())  # on the handler: tornado's loggers' records pass here too
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    from dflab.checker.server import serve  # tornado and the check file's models: after the log is set up

    try:
        asyncio.run(serve(args.session_dir.resolve()))
    except DflabError as exc:
        logging.getLogger("dflab.checker").error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
