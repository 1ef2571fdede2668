"""The ``stripe-smoke`` command. Heavy imports happen inside commands so ``--help`` stays instant.

``main`` is here; the parser is ``cli_parser.py`` and the commands are ``cli_run.py`` (run, profile check),
``cli_webhooks.py`` (send, sign), ``cli_servers.py`` (demo, emulator) and ``cli_checkout.py`` (checkout).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from smoke.cli_parser import build_parser
from smoke.cli_run import PYTEST_EXIT_CODES
from smoke.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, SmokeError
from smoke.redact import Redactor

__all__ = ["build_parser", "main"]
_EXIT_CODES = PYTEST_EXIT_CODES  # pytest's exit status → ours (cli_run.py), by its old name here

_SECRET_FLAGS = ("--webhook-secret", "--stripe-api-key", "--secret")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``stripe-smoke``; user errors print one line and set the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    on_command_line = [flag for flag in _SECRET_FLAGS if any(a == flag or a.startswith(flag + "=") for a in given)]
    if on_command_line:
        print(f"stripe-smoke: warning: {on_command_line[0]} on the command line is visible to other users (ps) and "
              "kept in shell history; prefer its environment variable or --secret-file.", file=sys.stderr)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.redactor = Redactor()  # this command's: what it learns (a step's token) is masked in all it prints
    try:
        return int(args.handler(args, extra))
    except SmokeError as exc:
        print(f"stripe-smoke: {args.redactor.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`stripe-smoke sign | head -c 20`): nothing more to say, and no one to say it to.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if os_environ_debug():
            raise
        print(f"stripe-smoke: internal error ({type(exc).__name__}: {args.redactor.redact(str(exc))[:200]}); this is a bug in "
              "stripe-smoke — rerun with STRIPE_SMOKE_DEBUG=1 for the traceback and report it.", file=sys.stderr)
        return EXIT_INTERNAL


def os_environ_debug() -> bool:
    """True when STRIPE_SMOKE_DEBUG asks for tracebacks."""
    import os

    return os.environ.get("STRIPE_SMOKE_DEBUG", "").lower() in ("1", "true", "yes")


if __name__ == "__main__":
    sys.exit(main())
