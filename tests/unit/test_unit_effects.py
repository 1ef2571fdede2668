"""What one payment does to the credit state: a delta on a number, or a change from one state to another."""

from __future__ import annotations

import pytest

from smoke.effects import Effect
from smoke.errors import ConfigError

TOP_UP = Effect(delta=500)
INVOICE = Effect(from_="open", to="paid")
STRICT_INVOICE = Effect(from_="open", to="paid", may_become=("failed", "uncollectible"))


def test_a_delta_expects_the_baseline_plus_the_amount() -> None:
    """One credit from 1200 is 1700; reached exactly there, and how many credits any other value is."""
    assert TOP_UP.numeric and TOP_UP.expected(1200) == 1700
    assert TOP_UP.reached(1200, 1700) and not TOP_UP.reached(1200, 2200) and not TOP_UP.reached(1200, 1205)
    assert [TOP_UP.moved(1200, v) for v in (1200, 1700, 2200, 1205, 700)] == [0, 1, 2, 0.01, -1]
    assert TOP_UP.describe(1200) == "1200 → 1700 (+500)"
    assert Effect(delta=2.5).describe(10.0) == "10 → 12.5 (+2.5)"


def test_a_delta_reads_numbers_sent_as_text() -> None:
    """A balance the API returns as ``"1200"`` works like 1200."""
    assert TOP_UP.reached("1200", "1700") and TOP_UP.expected("1200") == 1700


@pytest.mark.parametrize("state", ["paid", None, {"cents": 1200}, [1200]])
def test_a_delta_on_something_that_is_not_a_number_is_a_configuration_error(state: object) -> None:
    """The profile points [state].value at a non-number: say so and how to fix it (exit 4), no traceback."""
    with pytest.raises(ConfigError, match=r"is not a number; fix \[state\]\.value or use \[effect\] from/to") as info:
        TOP_UP.moved(state, 1700)
    assert info.value.exit_code == 4


def test_a_state_change_is_reached_only_at_to() -> None:
    """open → paid: reaching ``paid`` is the one credit; an invoice already paid cannot be credited again."""
    assert not INVOICE.numeric and INVOICE.expected("open") == "paid"
    assert INVOICE.reached("open", "paid") and not INVOICE.reached("open", "failed")
    assert INVOICE.moved("open", "paid") == 1 and INVOICE.moved("paid", "paid") == 0 and INVOICE.moved("open", "void") == 0
    assert INVOICE.describe("open") == "open → paid"


def test_any_change_of_a_number_is_unwanted_after_a_non_crediting_event() -> None:
    """Up or down, a balance must not move on a failed payment; unchanged or unreadable is fine."""
    assert TOP_UP.unwanted(1200, 1700) and TOP_UP.unwanted(1200, 1000)
    assert not TOP_UP.unwanted(1200, 1200) and not TOP_UP.unwanted(1200, None)


def test_a_state_change_may_go_elsewhere_unless_may_become_says_where() -> None:
    """Reaching ``to`` is always unwanted; other states are allowed, or only those in ``may_become``."""
    assert INVOICE.unwanted("open", "paid") and STRICT_INVOICE.unwanted("open", "paid")
    assert not INVOICE.unwanted("open", "failed") and not INVOICE.unwanted("open", "void")
    assert not STRICT_INVOICE.unwanted("open", "failed") and not STRICT_INVOICE.unwanted("open", "uncollectible")
    assert STRICT_INVOICE.unwanted("open", "void")
    assert not STRICT_INVOICE.unwanted("open", "open") and not STRICT_INVOICE.unwanted("open", None)
