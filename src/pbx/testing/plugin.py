"""The pytest plugin ``pbx``: fixtures that start a pbx for each test.

Registered through the ``pytest11`` entry point, so installing pbx makes the fixtures
available to every test suite:

``pbx_config``
    What to start. By default the file named by ``--pbx-config PATH`` on the command
    line, else by ``pbx_config = PATH`` in the pytest ini options (both relative to the
    rootdir), else ``examples/callcenter.toml`` under the rootdir. Override the fixture
    in a ``conftest.py`` to build a configuration in Python::

        @pytest.fixture
        def pbx_config():
            return config_from_dict({...})  # or load_config(...), or a path

``pbx_harness``
    A started :class:`~pbx.testing.harness.Harness` for the test; closed when the test
    ends, pass or fail (every call hung up, every socket closed, the loop closed).

``pbx_carrier``
    The :class:`~pbx.testing.carrier.SimCarrier` behind the outbound trunk of the
    ``pbx_harness`` of the same test: asking for this fixture starts the harness with a
    carrier (``Harness(..., carrier=TRUNK)``). The trunk is the ``pbx_carrier_trunk``
    fixture's (override it to choose); by default the trunk of the first campaign, else
    the first trunk configured.

The harness is imported when a fixture is first used, so suites that do not use the
fixtures do not pay for importing pbx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pbx.config import AppConfig
    from pbx.testing.carrier import SimCarrier
    from pbx.testing.harness import Harness

DEFAULT_CONFIG = Path("examples") / "callcenter.toml"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--pbx-config`` and the ``pbx_config`` ini option."""
    group = parser.getgroup("pbx", "pbx call-flow testing")
    group.addoption(
        "--pbx-config",
        dest="pbx_config",
        default=None,
        help="TOML configuration the pbx_harness fixture starts (default: "
        "the pbx_config ini option, else examples/callcenter.toml)",
    )
    parser.addini(
        "pbx_config",
        "TOML configuration the pbx_harness fixture starts, relative to the rootdir",
        default=None,
    )


def config_path(config: pytest.Config) -> Path:
    """The configuration file chosen by option, ini value or default, made absolute."""
    chosen = config.getoption("pbx_config") or config.getini("pbx_config") or DEFAULT_CONFIG
    path = Path(str(chosen))
    if not path.is_absolute():
        path = config.rootpath / path
    return path


def load_pbx_config(config: pytest.Config) -> AppConfig:
    """Load the configuration :func:`config_path` names; a usage error says how to choose
    another when it does not exist."""
    from pbx.config import load_config

    path = config_path(config)
    if not path.exists():
        raise pytest.UsageError(
            f"pbx_config: {path} does not exist; pass --pbx-config PATH, set pbx_config "
            "in the pytest ini options, or override the pbx_config fixture"
        )
    return load_config(path)


@pytest.fixture
def pbx_config(request: pytest.FixtureRequest) -> AppConfig | str | Path:
    """The configuration ``pbx_harness`` starts; override it to test your own."""
    return load_pbx_config(request.config)


@pytest.fixture
def pbx_harness(
    pbx_config: AppConfig | str | Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    """A pbx started on loopback for this test, with its trunk and phones; closed after."""
    from pbx.config import AppConfig, load_config
    from pbx.testing.carrier import default_trunk
    from pbx.testing.harness import Harness

    carrier: str | None = None
    if "pbx_carrier" in request.fixturenames:
        if not isinstance(pbx_config, AppConfig):
            pbx_config = load_config(pbx_config)
        chosen = request.getfixturevalue("pbx_carrier_trunk")
        carrier = chosen if chosen is not None else default_trunk(pbx_config)
    harness = Harness(pbx_config, tmp_path=tmp_path, carrier=carrier)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def pbx_carrier_trunk() -> str | None:
    """The trunk ``pbx_carrier`` stands behind (None: the first campaign's trunk, else
    the first trunk configured); override it to choose another."""
    return None


@pytest.fixture
def pbx_carrier(pbx_harness: Harness) -> SimCarrier:
    """The simulated carrier behind the outbound trunk of this test's ``pbx_harness``."""
    return pbx_harness.carrier
