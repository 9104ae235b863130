"""The dial plan: trunk routes, fixed forwards, and the settings' errors."""

from __future__ import annotations

import pytest

from pbx.calls.dialplan import dialplan_from_config
from pbx.errors import ConfigError

OUT = {"number": "re:^9(\\d{3,})$", "target": "trunk", "trunk": "carrier", "from": "any"}
FORWARD = {"number": "900", "target": "trunk", "trunk": "carrier", "from": "any"}


def test_a_dialled_number_goes_out_only_for_an_authenticated_user() -> None:
    plan = dialplan_from_config([OUT], "cc.toml")
    user = plan.resolve(origin="user", number="95551234", caller="2001")
    assert user is not None and user.target.number == "5551234"
    assert plan.resolve(origin="trunk", number="95551234", caller="5550100") is None


def test_a_fixed_forward_may_come_from_a_trunk_and_sends_the_fixed_number() -> None:
    plan = dialplan_from_config([{**FORWARD, "dial": "5550199", "record": True}], "cc.toml")
    match = plan.resolve(origin="trunk", number="900", caller="5550100")
    assert match is not None
    assert match.target.kind == "trunk" and match.target.name == "carrier"
    assert match.target.number == "5550199" and match.target.options["record"] is True
    assert plan.resolve(origin="trunk", number="901", caller="5550100") is None


def test_without_dial_a_trunk_call_to_a_trunk_route_is_refused() -> None:
    plan = dialplan_from_config([FORWARD], "cc.toml")
    assert plan.resolve(origin="trunk", number="900", caller="5550100") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**FORWARD, "dial": "x@evil"}, r"dialplan\[0\]\.dial: expected the number to dial"),
        ({**FORWARD, "dial": 5550199}, r"dialplan\[0\]\.dial: expected the number to dial"),
        (
            {"number": "600", "target": "echo", "dial": "1"},
            r"dialplan\[0\]\.dial: only trunk targets",
        ),
        ({**FORWARD, "dail": "1"}, r"dialplan\[0\]\.dail: unknown key"),
    ],
)
def test_bad_dial_settings_name_the_route(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dialplan_from_config([entry], "cc.toml")
