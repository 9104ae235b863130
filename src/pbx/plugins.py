"""Code a configuration names: ``module:attribute`` (``mypkg.acd:MostSenior``).

Used for custom ACD strategies (``[strategies] NAME = "module:attr"``) and Python
lookup functions (``[lookups.functions] NAME = "module:function"``). The module is
imported when the configuration is loaded, so a typo is refused at start with the key
that names it, never found at the first call.
"""

from __future__ import annotations

import importlib
import inspect
import random
from typing import Any

from pbx.errors import ConfigError

__all__ = ["load_object", "make_strategy"]


def load_object(spec: str, where: str) -> Any:
    """The object ``spec`` (``package.module:attr``, dots allowed in ``attr``) names;
    ConfigError naming ``where`` when it cannot be imported or found."""
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(f"{where}: expected 'module:attribute', got {spec!r}")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module's own error while importing
        raise ConfigError(
            f"{where}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigError(f"{where}: {module_name!r} has no attribute {attr!r}") from None
    return found


def make_strategy(spec: str, where: str, rng: random.Random) -> Any:
    """A strategy object from ``spec``: a class (instantiated, with the distributor's
    ``rng`` when its constructor takes an argument), a factory ``f(rng)``, or an object
    with a ``key`` method; ConfigError naming ``where`` for anything else."""
    found = load_object(spec, where)
    if not inspect.isclass(found) and callable(getattr(found, "key", None)):
        return found
    if not callable(found):
        raise ConfigError(f"{where}: {spec!r} is not a strategy (no key method)")
    try:
        takes_rng = bool(inspect.signature(found).parameters)
    except (TypeError, ValueError):
        takes_rng = False
    try:
        strategy = found(rng) if takes_rng else found()
    except Exception as exc:
        raise ConfigError(f"{where}: {spec!r} failed ({type(exc).__name__}: {exc})") from None
    if not callable(getattr(strategy, "key", None)):
        raise ConfigError(f"{where}: {spec!r} is not a strategy (no key method)")
    return strategy
