"""WebRTC offers and answers (pbx.sip.webrtc_sdp) against a Chromium offer."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.sip.offer_answer import OfferAnswerError
from pbx.sip.sdp import SessionDescription
from pbx.sip.webrtc_sdp import (
    WEBRTC_PROTO,
    WebRtcLocal,
    is_webrtc,
    webrtc_accept,
    webrtc_answer,
    webrtc_offer,
)

CHROME = (Path(__file__).parent / "data" / "chrome_offer.sdp").read_text()
LOCAL = WebRtcLocal("10.77.0.2", 20000, "uf12", "p" * 24, "sha-256 AB:CD", 1111, "leg@pbx")


def chrome(text: str = CHROME) -> SessionDescription:
    return SessionDescription.parse(text.replace("\n", "\r\n"))


def test_a_chromium_offer_is_answered_with_g711_over_dtls_srtp() -> None:
    offer = chrome()
    assert is_webrtc(offer)
    answer, negotiated = webrtc_answer(offer, LOCAL, session_id=1, session_version=2)
    [audio] = answer.media
    assert audio.proto == WEBRTC_PROTO and audio.port == 20000
    assert audio.formats == ["0", "126"]  # PCMU, and telephone-event/8000 (not /48000)
    assert audio.attribute("setup") == "active"  # we are the DTLS client (RFC 5763 §5)
    assert audio.attribute("mid") == "0" and answer.attribute("group") == "BUNDLE 0"
    assert audio.attribute("ice-ufrag") == "uf12" and audio.has_attribute("rtcp-mux")
    assert audio.attribute("fingerprint") == "sha-256 AB:CD"
    assert audio.attribute("candidate") == "1 1 udp 2130706431 10.77.0.2 20000 typ host"
    assert negotiated.media.codec == "PCMU" and negotiated.media.telephone_event == 126
    assert negotiated.media.direction == "sendrecv"
    assert not negotiated.controlling and negotiated.dtls_client
    remote = negotiated.remote
    assert remote.ufrag == "abcd" and remote.setup == "actpass"
    assert remote.candidates == (
        "1 1 udp 2122260223 10.77.0.1 50000 typ host generation 0 network-id 1",
    )  # the TCP candidate is left out
    assert remote.fingerprints[0][0] == "sha-256"


def test_a_browser_putting_the_call_on_hold_is_answered_recvonly() -> None:
    offer = chrome(CHROME.replace("a=sendrecv", "a=sendonly"))
    answer, negotiated = webrtc_answer(offer, LOCAL, session_id=1, session_version=3)
    assert negotiated.media.remote_hold and negotiated.media.direction == "recvonly"
    assert answer.media[0].has_attribute("recvonly")


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("a=fingerprint:", "fingerprint"),
        ("a=ice-pwd:", "ice-ufrag or a=ice-pwd"),
        ("a=rtcp-mux", "rtcp-mux"),
    ],
)
def test_an_offer_without_what_webrtc_needs_is_refused_488(drop: str, reason: str) -> None:
    text = "\n".join(line for line in CHROME.splitlines() if not line.startswith(drop))
    with pytest.raises(OfferAnswerError) as caught:
        webrtc_answer(chrome(text + "\n"), LOCAL, session_id=1, session_version=2)
    assert caught.value.status_hint == 488 and reason in caught.value.reason


def test_an_offer_with_only_opus_has_no_common_codec() -> None:
    text = CHROME.replace("111 63 9 0 8 13 110 126", "111 110")
    with pytest.raises(OfferAnswerError, match="no common codec"):
        webrtc_answer(chrome(text), LOCAL, session_id=1, session_version=2)


def test_an_offer_with_only_opus_is_answered_with_opus_when_the_shell_transcodes() -> None:
    text = CHROME.replace("111 63 9 0 8 13 110 126", "111 110")
    answer, negotiated = webrtc_answer(
        chrome(text), LOCAL, session_id=1, session_version=2, opus=True
    )
    [audio] = answer.media
    assert audio.formats == ["111", "110"]
    rtpmap = audio.rtpmap
    assert (rtpmap[111].encoding, rtpmap[111].clock_rate, rtpmap[111].channels) == (
        "opus",
        48000,
        2,
    )
    assert (rtpmap[110].encoding, rtpmap[110].clock_rate) == ("telephone-event", 48000)
    assert "useinbandfec=0" in audio.fmtp[111]
    # The engine's view: PCMU at 8 kHz; the browser's events keep their payload type.
    assert negotiated.opus == 111
    media = negotiated.media
    assert (media.codec, media.payload_type, media.clock_rate) == ("PCMU", 0, 8000)
    assert media.telephone_event == 110
    # An offer with G.711 keeps G.711 even when Opus could be transcoded.
    _, plain = webrtc_answer(chrome(), LOCAL, session_id=1, session_version=2, opus=True)
    assert plain.opus is None and plain.media.codec == "PCMU"


def test_our_offer_to_a_browser_and_its_answer() -> None:
    offer = webrtc_offer(LOCAL, session_id=5, session_version=1)
    [audio] = offer.media
    assert audio.proto == WEBRTC_PROTO and audio.attribute("setup") == "actpass"
    assert audio.formats == ["0", "8", "101"]
    # The browser answers like an answerer to actpass: active, with its own ICE.
    answer = chrome(
        CHROME.replace("111 63 9 0 8 13 110 126", "0 101")
        .replace("a=setup:actpass", "a=setup:active")
        .replace("a=rtpmap:126 telephone-event/8000", "a=rtpmap:101 telephone-event/8000")
    )
    negotiated = webrtc_accept(offer, answer)
    assert negotiated.controlling and not negotiated.dtls_client  # we are the DTLS server
    assert negotiated.media.codec == "PCMU" and negotiated.media.telephone_event == 101
    with pytest.raises(OfferAnswerError, match="actpass"):
        webrtc_accept(offer, chrome(CHROME.replace("111 63 9 0 8 13 110 126", "0")))
