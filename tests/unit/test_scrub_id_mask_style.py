"""G30: a shown ID mask follows the configured style (settings id_mask_keep_first /
id_mask_keep_last); the stored form (`mask_id_number_at_rest`) does not change."""

from __future__ import annotations

import pytest

from citycredit.catalog.loader import default_catalog
from citycredit.privacy.records import mask_personal
from citycredit.settings import Settings
from citycredit.shared.errors import FieldError
from citycredit.shared.ids import (
    id_mask_style,
    mask_id_number,
    mask_id_number_at_rest,
    restyle_stored_id_mask,
)

IDN = "610802199001011230"


def test_defaults_are_four_and_four_and_match_the_settings() -> None:
    s = Settings.model_fields
    assert s["id_mask_keep_first"].default == 4 and s["id_mask_keep_last"].default == 4
    assert mask_id_number(IDN) == "6108**********1230"
    assert mask_id_number("610802900101123") == "6108*******1123"
    assert mask_id_number("1234") == "****"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (6, 4, "610802********1230"),
        (3, 2, "610*************30"),
        (2, 0, "61****************"),
        (0, 4, "**************1230"),
        (0, 0, "******************"),
    ],
)
def test_style_in_force_and_explicit_arguments(first: int, last: int, expected: str) -> None:
    assert mask_id_number(IDN, keep_first=first, keep_last=last) == expected
    with id_mask_style(first, last):
        assert mask_id_number(IDN) == expected
        # the authorised view's masks go through privacy.records.mask_personal
        spec = default_catalog().item("penalty").field("CF_XDR_ZJHM")
        assert mask_personal(spec, IDN) == expected
        # the stored form is not affected by the style
        assert mask_personal(spec, IDN, at_rest=True) == "6108" + "*" * 14
        assert mask_id_number_at_rest(IDN) == "6108" + "*" * 14
    assert mask_id_number(IDN) == "6108**********1230"  # the block restored the default


def test_stored_mask_is_shown_with_no_more_than_the_style_keeps() -> None:
    stored = mask_id_number_at_rest(IDN)
    assert restyle_stored_id_mask(stored) == stored
    assert restyle_stored_id_mask(None) is None
    with id_mask_style(2, 4):
        assert restyle_stored_id_mask(stored) == "61" + "*" * 16
    with id_mask_style(6, 4):  # the stored form has only 4: never more than stored
        assert restyle_stored_id_mask(stored) == stored


@pytest.mark.parametrize(
    ("first", "last", "field", "value"),
    [
        (7, 4, "id_mask_keep_first", "7"),
        (4, 5, "id_mask_keep_last", "5"),
        (-1, 0, "id_mask_keep_first", "-1"),
    ],
)
def test_out_of_range_style_names_the_setting(
    first: int, last: int, field: str, value: str
) -> None:
    with pytest.raises(FieldError) as err:
        mask_id_number(IDN, keep_first=first, keep_last=last)
    assert err.value.field == field and err.value.value == value
    with pytest.raises(FieldError), id_mask_style(first, last):
        pass
