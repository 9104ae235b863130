"""RFC 3550 RTP/RTCP and RFC 4733 telephone-events, sans-I/O."""

from __future__ import annotations

from pbx.rtp.dtmf import DtmfDigit, TelephoneEventReceiver, TelephoneEventSender
from pbx.rtp.jitter import JitterBuffer
from pbx.rtp.jitterbank import JitterBank
from pbx.rtp.packet import RtpError, RtpPacket, build_rtp_header
from pbx.rtp.ports import PortPool, PortsExhaustedError
from pbx.rtp.rtcp import RtcpError, is_rtcp, parse_rtcp
from pbx.rtp.stream import RemoteBye, RtpStream, RtpStreamStats

__all__ = [
    "DtmfDigit",
    "JitterBank",
    "JitterBuffer",
    "PortPool",
    "PortsExhaustedError",
    "RemoteBye",
    "RtcpError",
    "RtpError",
    "RtpPacket",
    "RtpStream",
    "RtpStreamStats",
    "TelephoneEventReceiver",
    "TelephoneEventSender",
    "build_rtp_header",
    "is_rtcp",
    "parse_rtcp",
]
