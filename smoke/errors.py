"""Errors a person reads: one sentence saying what is wrong and what to do next.

Each carries the exit code of the CLI contract (README, "Exit codes"): 1 the target (or a payment) failed,
2 a bug in stripe-smoke, 3 the target or Stripe did not answer, 4 bad input (an option, profile, receipt, secret, URL or card).
"""

from __future__ import annotations

__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_INCONCLUSIVE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_UNREACHABLE",
           "ConfigError", "SmokeError", "TargetUnreachable"]

EXIT_OK, EXIT_FAILED, EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_CONFIG, EXIT_INCONCLUSIVE = 0, 1, 2, 3, 4, 6
EXIT_INTERRUPTED = 130


class SmokeError(Exception):
    """A problem the user can act on; its message is shown as is, without a traceback (exit 1: something failed)."""

    exit_code = EXIT_FAILED


class ConfigError(SmokeError):
    """Bad input: a profile, option, secret, URL, receipt or card the harness cannot use."""

    exit_code = EXIT_CONFIG


class TargetUnreachable(SmokeError):
    """The target (or Stripe) did not answer at all."""

    exit_code = EXIT_UNREACHABLE
