"""Masking card numbers in what the driver writes down."""

from __future__ import annotations

import zipfile

from smoke.checkout import artifacts


def test_scrub_masks_every_grouping_to_the_last_four():
    text = "typed 4000002500003155, shown 4000 0025 0000 3155, dashed 4000-0025-0000-3155"
    assert artifacts.scrub(text, "4000 0025 0000 3155") == "typed •••• 3155, shown •••• 3155, dashed •••• 3155"


def test_scrub_trace_rewrites_text_members_and_leaves_pictures(tmp_path):
    source, target = tmp_path / "raw.zip", tmp_path / "trace.zip"
    picture = b"\x89PNG 4242424242424242"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("trace.trace", '{"text":"4242424242424242","value":"4242 4242 4242 4242","t":1732345678901}')
        zf.writestr("resources/a.png", picture)
    artifacts.scrub_trace(source, target, "4242424242424242")
    with zipfile.ZipFile(target) as zf:
        assert zf.read("trace.trace").decode() == '{"text":"•••• 4242","value":"•••• 4242","t":1732345678901}'
        assert zf.read("resources/a.png") == picture


def test_mask_card():
    assert artifacts.mask_card("4242 4242 4242 4242") == "•••• 4242"
