from __future__ import annotations

import pytest

from pbx.errors import ConfigError, LocalProtocolError
from pbx.rtp.ports import PortPool, PortsExhaustedError


def test_allocates_even_ports_with_rtcp_inside_the_range() -> None:
    pool = PortPool(10001, 10008)
    ports = [pool.allocate() for _ in range(3)]
    assert ports == [10002, 10004, 10006]  # 10008 has no 10009 in range
    assert pool.available == 0 and pool.size == 3
    with pytest.raises(PortsExhaustedError, match="RTP port range 10001-10008 is exhausted"):
        pool.allocate()


def test_release_is_round_robin_and_never_doubles() -> None:
    pool = PortPool(20000, 20005)
    a = pool.allocate()
    b = pool.allocate()
    pool.release(a)
    assert pool.allocate() == 20004  # the released port waits its turn
    assert pool.allocate() == a
    assert pool.in_use == {a, b, 20004}
    with pytest.raises(LocalProtocolError):
        pool.release(30000)
    pool.release(b)
    with pytest.raises(LocalProtocolError):
        pool.release(b)


@pytest.mark.parametrize(
    ("start", "end", "key"),
    [
        (0, 100, "rtp.port_start"),
        (100, 70000, "rtp.port_end"),
        (20000, 10000, "rtp.port_start/rtp.port_end"),
        (20001, 20002, "rtp.port_start/rtp.port_end"),
    ],
)
def test_invalid_range_is_a_config_error_naming_the_key(start: int, end: int, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        PortPool(start, end)
    assert str(info.value).startswith(key + ":")
