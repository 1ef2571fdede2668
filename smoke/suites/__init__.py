"""The checks run against a target: ``pytest --pyargs smoke.suites --target NAME``."""
