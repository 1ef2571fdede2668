"""The one fault table: every fault of every reference style is what its module switches on, and a test catches it."""

from __future__ import annotations

import importlib

import pytest

from smoke.reference import embedded, embedded_names
from smoke.reference.faults import FAULTS, QUIRKS


def _caught() -> dict[str, set[str]]:
    """Style → the faults some test maps to the check that catches it (the CAUGHT_BY tables, reused)."""
    import test_failure_paths
    import test_faulty_targets
    import test_profile_credits
    import test_profiles_styles
    import test_stripe_outage

    caught: dict[str, set[str]] = {name: set() for name in FAULTS}
    caught["topups"] |= set(test_faulty_targets.CAUGHT_BY) | set(test_failure_paths.CAUGHT_BY)
    caught["credits"] |= set(test_profile_credits.CAUGHT_BY) | set(test_stripe_outage.CAUGHT_BY)
    for style, fault in test_profiles_styles.CAUGHT_BY:
        caught[style].add(fault)
    return caught


def test_the_table_names_every_embedded_style() -> None:
    """One row per reference target, no more; quirks only for styles that exist."""
    assert sorted(FAULTS) == embedded_names()
    assert set(QUIRKS) <= set(FAULTS)


@pytest.mark.parametrize("style", sorted(FAULTS))
def test_module_faults_are_the_tables_row(style: str) -> None:
    """A style module's FAULTS (and QUIRKS, where it has them) are its row of the table, each with a description."""
    module = importlib.import_module(embedded(style).__module__)
    assert FAULTS[style] == module.FAULTS
    assert QUIRKS.get(style, {}) == getattr(module, "QUIRKS", {})
    assert all(isinstance(text, str) and text for text in FAULTS[style].values())
    assert not set(FAULTS[style]) & set(QUIRKS.get(style, {})), "a quirk is not a fault"


@pytest.mark.parametrize("style", sorted(FAULTS))
def test_every_fault_of_every_style_is_caught(style: str) -> None:
    """Each fault in the table is mapped to the check that catches it; no mapping names a fault the table lacks."""
    caught = _caught()[style]
    assert set(FAULTS[style]) - caught == set(), f"{style}: faults no test catches"
    assert caught - set(FAULTS[style]) == set(), f"{style}: tests map faults the table does not declare"


@pytest.mark.parametrize("style", sorted(FAULTS))
def test_unknown_fault_is_refused(style: str, webhook_secret: str) -> None:
    """Asking a target for a fault its row does not declare is an error, before anything starts."""
    module = importlib.import_module(embedded(style).__module__)
    with pytest.raises(ValueError, match="unknown faults: no_such_fault"):
        module.create_app(webhook_secret, faults={"no_such_fault"})
