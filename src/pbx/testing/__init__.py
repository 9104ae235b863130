"""pbx.testing: test call flows of a pbx application over real SIP and RTP on loopback.

A :class:`Harness` starts the application under test in-process and drives it as the
carrier trunk (:meth:`Harness.call` → :class:`SimCall`) and as agents' phones
(:meth:`Harness.agent` → :class:`SimAgent`) would, from plain synchronous test
functions. The pytest plugin (:mod:`pbx.testing.plugin`, registered as ``pbx``) gives
the ``pbx_config`` and ``pbx_harness`` fixtures::

    def test_echo(pbx_harness):
        caller = pbx_harness.call("600", audio=Tone(440))
        caller.wait_answered()
        caller.assert_heard_tone(440, min_seconds=0.5)
        caller.hang_up()
        assert caller.cdr()["disposition"] == "answered"

Contact-center flows: agents' phones place calls too (``agent.dial("*1")`` logs in,
``supervisor.dial("*62001")`` whispers), a caller's phone answers the pbx's callback
(``caller.wait_called_back()``), the ACD is at hand (``harness.login("2001")``,
``harness.agent_state("2001")``, ``harness.wait_for_queue_event("CONNECT")``), and
:func:`fast_queues` shortens the queues' timers so that a test takes seconds::

    @pytest.fixture
    def pbx_config():
        return fast_queues(load_config("examples/callcenter.toml"), sales={"wrap_up": 2})

Outbound calls: ``Harness(config, tmp_path=..., carrier="sim")`` (or the ``pbx_carrier``
fixture) puts a :class:`SimCarrier` behind the trunk ``sim``; each number dialled there
answers as its behaviour says — :class:`Person` (pressing digits, :class:`Press`),
:class:`Machine`, :class:`Busy`, :class:`Reject`, :class:`Unallocated`,
:class:`NoAnswer`, :class:`AnswerThenHangUp` — and every call is a :class:`CarrierCall`
with what it heard::

    def test_reminder(pbx_harness, pbx_carrier):
        menu = Press("1", after_prompt="en/reminder-menu")
        pbx_carrier.set_behaviour("+12125550123", Person(press=menu))
        ...  # import leads, start the campaign
        call = pbx_carrier.wait_for_call("+12125550123", timeout=10)
        call.assert_heard_prompt("en/reminder-intro")
"""

from __future__ import annotations

from pbx.testing.agent import AgentCall, Incoming, SimAgent, TextReceived
from pbx.testing.audio import (
    Audio,
    Silence,
    Speech,
    Tone,
    dbov,
    longest_tone,
    match_prompt,
    silence,
)
from pbx.testing.caller import SimCall
from pbx.testing.carrier import (
    AnswerThenHangUp,
    Behaviour,
    Busy,
    CarrierCall,
    Machine,
    NoAnswer,
    Person,
    Press,
    Reject,
    SimCarrier,
    Unallocated,
)
from pbx.testing.errors import SimulationError, WaitTimeout
from pbx.testing.harness import Harness
from pbx.testing.phone import SimPhone
from pbx.testing.tuning import FAST, fast_queues, with_queues

__all__ = [
    "FAST",
    "AgentCall",
    "AnswerThenHangUp",
    "Audio",
    "Behaviour",
    "Busy",
    "CarrierCall",
    "Harness",
    "Incoming",
    "Machine",
    "NoAnswer",
    "Person",
    "Press",
    "Reject",
    "SimAgent",
    "TextReceived",
    "SimCall",
    "SimCarrier",
    "SimPhone",
    "Silence",
    "SimulationError",
    "Speech",
    "Tone",
    "Unallocated",
    "WaitTimeout",
    "dbov",
    "fast_queues",
    "longest_tone",
    "match_prompt",
    "silence",
    "with_queues",
]
