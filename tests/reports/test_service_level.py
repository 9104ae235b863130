"""Service level in the three treatments of abandons, ASA and AHT from interval figures."""

from __future__ import annotations

import pytest

from pbx.reports.service_level import AbandonTreatment, ServiceLevelCounts, aht, asa


def test_worked_example_70_answered_10_abandoned_20_late_of_100() -> None:
    counts = ServiceLevelCounts(answered_within=70, abandoned_within=10, offered=100)
    ignored = counts.service_level(AbandonTreatment.IGNORED)
    assert ignored is not None
    assert ignored == pytest.approx(70 / 90)
    assert f"{ignored:.1%}" == "77.8%"
    assert counts.service_level(AbandonTreatment.AGAINST) == pytest.approx(0.70)
    assert counts.service_level(AbandonTreatment.FOR) == pytest.approx(0.80)


def test_short_abandons_leave_offered_and_abandoned() -> None:
    with_short = ServiceLevelCounts(
        answered_within=70, abandoned_within=15, offered=105, short_abandoned=5
    )
    plain = ServiceLevelCounts(answered_within=70, abandoned_within=10, offered=100)
    assert with_short.counted_offered == 100
    assert with_short.counted_abandoned_within == 10
    for treatment in AbandonTreatment:
        assert with_short.service_level(treatment) == plain.service_level(treatment)


def test_nothing_offered_gives_no_service_level() -> None:
    counts = ServiceLevelCounts(answered_within=0, abandoned_within=0, offered=0)
    for treatment in AbandonTreatment:
        assert counts.service_level(treatment) is None


def test_only_short_abandons_gives_no_service_level() -> None:
    counts = ServiceLevelCounts(answered_within=0, abandoned_within=3, offered=3, short_abandoned=3)
    for treatment in AbandonTreatment:
        assert counts.service_level(treatment) is None


def test_every_call_abandoned_in_time_is_undefined_only_when_ignored() -> None:
    counts = ServiceLevelCounts(answered_within=0, abandoned_within=4, offered=4)
    assert counts.service_level(AbandonTreatment.IGNORED) is None
    assert counts.service_level(AbandonTreatment.AGAINST) == 0.0
    assert counts.service_level(AbandonTreatment.FOR) == 1.0


@pytest.mark.parametrize(
    ("answered", "abandoned", "offered", "short", "message"),
    [
        (-1, 0, 10, 0, "service level counts must not be negative"),
        (5, 2, 10, 3, "short abandons must be between 0 and the abandons within"),
        (8, 3, 10, 0, "calls answered and abandoned within exceed calls offered"),
    ],
)
def test_inconsistent_counts_are_refused(
    answered: int, abandoned: int, offered: int, short: int, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        ServiceLevelCounts(
            answered_within=answered,
            abandoned_within=abandoned,
            offered=offered,
            short_abandoned=short,
        )


def test_asa_is_mean_wait_of_answered_calls() -> None:
    assert asa([0.0, 10.0, 20.0, 30.0]) == pytest.approx(15.0)
    assert asa([]) is None


def test_aht_adds_talk_hold_and_wrap_up_per_call() -> None:
    talk = [120.0, 200.0]
    hold = [30.0, 0.0]
    wrap_up = [30.0, 20.0]
    assert aht(talk, hold, wrap_up) == pytest.approx(200.0)
    assert aht([], [], []) is None


def test_aht_needs_one_figure_per_call_in_each_sequence() -> None:
    with pytest.raises(ValueError, match="one figure per call"):
        aht([100.0, 200.0], [0.0], [10.0, 10.0])
