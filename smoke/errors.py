"""Errors a person reads: one sentence saying what is wrong and what to do next."""

from __future__ import annotations


class SmokeError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback."""

    exit_code = 2


class ConfigError(SmokeError):
    """Bad input: a profile, option, secret, URL, receipt or card the harness cannot use."""

    exit_code = 4


class TargetUnreachable(SmokeError):
    """The target did not answer at all."""

    exit_code = 3
