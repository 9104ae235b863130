"""HTTPS and SIP over secure WebSocket (``wss://``, RFC 7118 ``WSS``).

With ``[http] certificate`` and ``private_key`` the listener speaks TLS: the pages and the
API are served over ``https://`` and the desktop's phone registers over ``wss://…/sip``,
which is what a browser on another machine needs (the microphone is given to secure
pages only). The certificate is a self-signed one the test makes for 127.0.0.1; Chromium
is told to accept it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from attrs import evolve
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pbx.config import AppConfig, ConfigError, load_config
from pbx.testing import Harness
from pbx.testing.tuning import fast_queues
from tests.api.helpers import EXAMPLE
from tests.net.test_webrtc import FLAGS, tone_file
from tests.test_config_validation import example_copy
from tests.web.browser import artifact, chromium, log_in, require_browser
from tests.web.test_desktop_phone import page_hears


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pbx test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "pbx.crt", directory / "pbx.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def pbx_config(tmp_path: Path) -> AppConfig:
    config = fast_queues(load_config(EXAMPLE))
    cert, key = self_signed(tmp_path)
    return evolve(config, http=evolve(config.http, certificate=str(cert), private_key=str(key)))


def test_the_desktop_phone_registers_over_wss_and_calls(
    pbx_harness: Harness, tmp_path: Path
) -> None:
    binary = require_browser()
    h = pbx_harness
    tone = tone_file(tmp_path, 440)
    flags = (*FLAGS, "--ignore-certificate-errors", f"--use-file-for-fake-audio-capture={tone}")
    browser_cm = chromium(binary, flags)
    browser = h.run(browser_cm.__aenter__())
    try:
        page: Any = h.run(browser.new_page())
        base = f"https://127.0.0.1:{h.app.http_port}"
        h.run(log_in(page, f"{base}/agent?phone=on", "2003", "pw2003"))
        h.run(page.wait_for_selector('#phone-state[data-state="registered"]', timeout=10_000))
        [binding] = h.app.location.lookup("2003", h.app.sip.now())
        assert binding.source.transport == "WSS"

        # The echo test from the page's dialler: the browser hears its own tone back.
        h.run(page.fill("#phone-number", "600"))
        h.run(page.click("#phone-dial"))
        h.run(page.wait_for_selector('#phone-call[data-state="talking"]', timeout=10_000))
        leg = next(leg for leg in h.app.calls.legs.values() if leg.webrtc is not None)
        assert leg.webrtc_started
        page_hears(h, page, 440)
        h.run(page.screenshot(path=str(artifact("desktop-phone-wss.png"))))
        h.run(page.click("#phone-end"))
        h.wait_for(lambda: not h.app.calls.calls, 5.0, "the echo call to end")
    finally:
        h.run(browser_cm.__aexit__(None, None, None))


def test_https_needs_both_files_and_a_matching_pair(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    for sub in "abc":
        (tmp_path / sub).mkdir()
    listen = 'listen = "127.0.0.1:8080"\n'
    only_cert = example_copy(tmp_path / "a", (listen, f'{listen}certificate = "{cert}"\n'))
    with pytest.raises(ConfigError, match=r"http\.private_key: missing"):
        load_config(only_cert)
    other = tmp_path / "other.key"
    other.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    mismatched = example_copy(
        tmp_path / "b",
        (listen, f'{listen}certificate = "{cert}"\nprivate_key = "{other}"\n'),
    )
    with pytest.raises(ConfigError, match=r"http\.certificate: .* are not a PEM certificate"):
        load_config(mismatched)
    relative = example_copy(
        tmp_path / "c", (listen, f'{listen}certificate = "pbx.crt"\nprivate_key = "pbx.key"\n')
    )
    for path in (cert, key):
        (tmp_path / "c" / path.name).write_bytes(path.read_bytes())
    http = load_config(relative).http
    assert http.certificate == str(tmp_path / "c" / "pbx.crt")
    assert http.private_key == str(tmp_path / "c" / "pbx.key")
