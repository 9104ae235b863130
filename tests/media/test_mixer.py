"""The gain matrix: roles, conferences, mute, saturation, plan vs dense product."""

from __future__ import annotations

import numpy as np
import pytest

from pbx.errors import InvalidStateError, LocalProtocolError
from pbx.media.mixer import Mixer, MixPlan, Role, mix_dense


def _pcm(rng: np.random.Generator, n: int, amp: int = 8000) -> np.ndarray:
    return rng.integers(-amp, amp, size=(n, 160)).astype(np.int16)


def _check_plan_matches_dense(mixer: Mixer, pcm: np.ndarray) -> np.ndarray:
    out = mixer.mix(pcm)
    assert np.array_equal(out, mix_dense(mixer.gain_matrix(len(pcm)), pcm))
    return out


def test_two_party_call_each_hears_the_other(rng: np.random.Generator) -> None:
    m = Mixer()
    b = m.create_bridge()
    m.join(b, 0)
    m.join(b, 1)
    pcm = _pcm(rng, 3)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[0], pcm[1])
    assert np.array_equal(out[1], pcm[0])
    assert not out[2].any()  # row 2 is in no bridge
    assert m.gain_matrix(3).tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize("n", [3, 4, 7, 12])
def test_conference_everyone_hears_all_but_self(n: int, rng: np.random.Generator) -> None:
    m = Mixer()
    b = m.create_bridge()
    for ch in range(n):
        m.join(b, ch)
    pcm = _pcm(rng, n, amp=2000)
    out = _check_plan_matches_dense(m, pcm)
    total = pcm.astype(np.int32).sum(axis=0)
    for ch in range(n):
        assert np.array_equal(out[ch], total - pcm[ch])  # the N-1 property
    assert np.array_equal(m.gain_matrix(n), np.ones((n, n)) - np.eye(n))


def test_supervisor_listen_hears_both_heard_by_none(rng: np.random.Generator) -> None:
    caller, agent, sup = 0, 1, 2
    m = Mixer()
    b = m.create_bridge()
    m.join(b, caller)
    m.join(b, agent)
    m.join(b, sup, Role.LISTEN)
    g = m.gain_matrix(3)
    assert g[sup].tolist() == [1, 1, 0]
    assert g[:, sup].tolist() == [0, 0, 0]
    pcm = _pcm(rng, 3)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[caller], pcm[agent])
    assert np.array_equal(out[agent], pcm[caller])


def test_whisper_heard_only_by_the_agent() -> None:
    caller, agent, sup = 0, 1, 2
    m = Mixer()
    b = m.create_bridge()
    m.join(b, caller)
    m.join(b, agent)
    m.join(b, sup, Role.WHISPER, whisper_to=agent)
    g = m.gain_matrix(3)
    assert g[agent].tolist() == [1, 0, 1]
    assert g[caller].tolist() == [0, 1, 0]
    assert g[sup].tolist() == [1, 1, 0]


def test_barge_heard_by_all() -> None:
    m = Mixer()
    b = m.create_bridge()
    m.join(b, 0)
    m.join(b, 1)
    m.join(b, 2, Role.BARGE)
    assert np.array_equal(m.gain_matrix(3), np.ones((3, 3)) - np.eye(3))


def test_switching_role_mid_call_changes_only_g(rng: np.random.Generator) -> None:
    caller, agent, sup = 0, 1, 2
    m = Mixer()
    b = m.create_bridge()
    m.join(b, caller)
    m.join(b, agent)
    m.join(b, sup, Role.LISTEN)
    pcm = _pcm(rng, 3)
    assert np.array_equal(_check_plan_matches_dense(m, pcm)[caller], pcm[agent])
    m.set_role(sup, Role.WHISPER, whisper_to=agent)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[caller], pcm[agent])
    assert np.array_equal(out[agent], pcm[caller] + pcm[sup])
    m.set_role(sup, Role.BARGE)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[caller], pcm[agent] + pcm[sup])
    m.set_role(sup, Role.LISTEN)
    assert np.array_equal(_check_plan_matches_dense(m, pcm)[agent], pcm[caller])


def test_muted_member_is_heard_by_none_but_hears(rng: np.random.Generator) -> None:
    m = Mixer()
    b = m.create_bridge()
    for ch in range(3):
        m.join(b, ch)
    m.set_muted(1, True)
    pcm = _pcm(rng, 3)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[0], pcm[2])
    assert np.array_equal(out[1], pcm[0] + pcm[2])
    m.set_muted(1, False)
    assert np.array_equal(_check_plan_matches_dense(m, pcm)[0], pcm[1] + pcm[2])


def test_saturation_at_both_rails() -> None:
    m = Mixer()
    b = m.create_bridge()
    for ch in range(3):
        m.join(b, ch)
    pcm = np.zeros((3, 160), dtype=np.int16)
    pcm[0], pcm[1], pcm[2] = 32767, 32767, -32768
    out = _check_plan_matches_dense(m, pcm)
    assert out[2].tolist() == [32767] * 160  # 65534 saturates
    assert out[0].tolist() == [-1] * 160  # 32767 - 32768: no wrap
    pcm[:] = -32768
    assert _check_plan_matches_dense(m, pcm)[0].tolist() == [-32768] * 160


def test_unity_gain_is_bit_exact_and_non_unity_rounds(rng: np.random.Generator) -> None:
    m = Mixer()
    b = m.create_bridge()
    m.join(b, 0, volume=0.5)
    m.join(b, 1)
    pcm = _pcm(rng, 2)
    assert not m.plan().unity
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[1], np.rint(pcm[0] * 0.5).astype(np.int16))


def test_echo_is_the_diagonal(rng: np.random.Generator) -> None:
    m = Mixer()
    m.set_echo(4, True)
    pcm = _pcm(rng, 5)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[4], pcm[4])
    assert not out[:4].any()
    m.set_echo(4, False)
    assert not m.mix(pcm).any()


def test_many_bridges_block_diagonal(rng: np.random.Generator) -> None:
    m = Mixer()
    sizes = [2, 3, 2, 5, 1, 4]
    ch = 0
    for size in sizes:
        b = m.create_bridge()
        for _ in range(size):
            m.join(b, ch)
            ch += 1
    order = rng.permutation(ch)  # rows need not be contiguous per bridge
    pcm = _pcm(rng, ch)
    out = _check_plan_matches_dense(m, pcm)
    assert not out[sum(sizes[:4])].any()  # the lone member hears nothing
    assert len(order) == ch


def test_membership_errors() -> None:
    m = Mixer()
    b = m.create_bridge()
    m.join(b, 0)
    with pytest.raises(InvalidStateError, match="channel 0 is already in bridge 1"):
        m.join(b, 0)
    with pytest.raises(InvalidStateError, match="bridge 9 does not exist"):
        m.join(9, 1)
    with pytest.raises(LocalProtocolError, match="WHISPER member needs whisper_to"):
        m.join(b, 1, Role.WHISPER)
    with pytest.raises(InvalidStateError, match="channel 5 is not in a bridge"):
        m.set_role(5, Role.LISTEN)
    m.leave(0)
    assert m.bridge_of(0) is None
    assert m.edges() == []


def test_plan_groups_sinks_by_fan_in() -> None:
    plan = MixPlan.from_edges([(3, 1, 1.0), (0, 2, 1.0), (3, 0, 1.0), (5, 4, 0.5)])
    assert [g.srcs.shape[1] for g in plan.groups] == [1, 2]
    one, two = plan.groups
    assert one.sinks.tolist() == [0, 5] and one.srcs.tolist() == [[2], [4]]
    assert one.gains is not None and one.gains.ravel().tolist() == [1.0, 0.5]
    assert two.sinks.tolist() == [3] and two.srcs.tolist() == [[0, 1]] and two.gains is None
    assert not plan.unity


def test_mixed_fan_in_and_gains_match_dense(rng: np.random.Generator) -> None:
    m = Mixer()
    ch = 0
    for size in [2, 3, 4, 2, 3]:
        b = m.create_bridge()
        for k in range(size):
            m.join(b, ch, volume=0.7 if k == 1 else 1.0)
            ch += 1
    m.set_echo(0, True)
    _check_plan_matches_dense(m, _pcm(rng, ch, amp=20000))


def test_copy_only_plan_for_two_party_calls(rng: np.random.Generator) -> None:
    m = Mixer()
    for pair in range(3):
        b = m.create_bridge()
        m.join(b, 2 * pair)
        m.join(b, 2 * pair + 1)
    pcm = _pcm(rng, 7)
    plan = m.plan()
    assert plan.copy_only
    out = np.full((7, 160), 99, dtype=np.int16)
    plan.copy_into(pcm, out)
    assert np.array_equal(out, m.mix(pcm))
    assert not out[6].any()
    m.join(b, 6)  # a third party makes sums
    assert not m.plan().copy_only


def test_a_deaf_member_on_hold_hears_nobody_and_is_still_heard(rng: np.random.Generator) -> None:
    m = Mixer()
    b = m.create_bridge()
    for ch in range(3):
        m.join(b, ch)
    m.set_deaf(0, True)
    pcm = _pcm(rng, 3, amp=2000)
    out = _check_plan_matches_dense(m, pcm)
    assert not out[0].any()
    assert np.array_equal(out[1], pcm[0].astype(np.int32) + pcm[2])
    m.set_deaf(0, False)
    out = _check_plan_matches_dense(m, pcm)
    assert np.array_equal(out[0], pcm[1].astype(np.int32) + pcm[2])


def test_a_room_of_fifty_with_muted_members(rng: np.random.Generator) -> None:
    """A full conference room (50, the example's limit): one bridge, the N-1 mix, muted
    members heard by none."""
    m = Mixer()
    b = m.create_bridge()
    for ch in range(50):
        m.join(b, ch)
    for ch in (3, 17, 40):
        m.set_muted(ch, True)
    pcm = _pcm(rng, 50, amp=500)
    out = _check_plan_matches_dense(m, pcm)
    spoken = pcm.astype(np.int32)
    spoken[[3, 17, 40]] = 0
    total = spoken.sum(axis=0)
    for ch in range(50):
        assert np.array_equal(out[ch], total - spoken[ch])
