"""Names of credentials are found wherever they sit, and other names' values are left alone."""

from __future__ import annotations

import pytest

from smoke.redact import Redactor


@pytest.mark.parametrize("text, expected", [
    ("monkey=banana&x=1", "monkey=banana&x=1"),  # "key" alone is not a credential's name
    ("a=bprivate-key=abc&z", "a=bprivate-key=[redacted]&z"),  # a credential's name inside another name's value
    ("monkey=bananamy-token-x=abcd", "monkey=bananamy-token-x=[redacted]"),
    ("ſecret=abc", "ſecret=[redacted]"),  # matched case-insensitively, as Unicode folds it
    ('{"client_secret": "cs_1", "name": "token"}', '{"client_secret": "[redacted]", "name": "token"}'),
    ('\\"refreshToken\\":\\"zzz999\\"', '\\"refreshToken\\":\\"[redacted]\\"'),
    ("token=[redacted]&x=1", "token=[redacted]&x=1"),  # redacting twice changes nothing
])
def test_credential_names_are_masked_wherever_they_sit(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_a_secret_learnt_later_is_masked_in_a_text_redacted_before() -> None:
    redactor = Redactor()
    text = "the buyer's recovery code is q7-ZZ-81-xk"
    assert redactor.redact(text) == text
    redactor.add("q7-ZZ-81-xk")
    assert redactor.redact(text) == "the buyer's recovery code is [redacted]"
