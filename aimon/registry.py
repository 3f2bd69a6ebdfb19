"""Monitors by name: :func:`get_monitor`, and the :func:`monitor` decorator that uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from aimon import lifecycle
from aimon.errors import ConfigError
from aimon.features import FeatureExtractor
from aimon.monitors import Monitor

__all__ = ["get_monitor", "monitor"]

F = TypeVar("F", bound=Callable[..., Any])


def get_monitor(name: str, **settings: Any) -> Monitor:
    """The registered Monitor called ``name``, created with ``settings`` on first use.

    Raises:
        ConfigError: ``settings`` differ from those the existing monitor was created with
            (only ``version`` is checked).
    """
    with lifecycle.named_lock():
        found: Monitor | None = lifecycle.NAMED.get(name)
        if found is None:
            found = lifecycle.NAMED[name] = Monitor(name, **settings)
        elif "version" in settings and settings["version"] != found.version:
            raise ConfigError(
                f"version: monitor {name!r} already exists with version {found.version!r}"
            )
        return found


@overload
def monitor(fn: F, /) -> F: ...


@overload
def monitor(
    *,
    name: str | None = None,
    version: str | None = None,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    **settings: Any,
) -> Callable[[F], F]: ...


def monitor(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    version: str | None = None,
    features: bool | FeatureExtractor = True,
    sizes: bool = True,
    **settings: Any,
) -> F | Callable[[F], F]:
    """Record calls of ``fn`` with the Monitor registered under ``name``.

    Bare ``@aimon.monitor`` uses a Monitor named after the function; ``@aimon.monitor(name=
    "fraud", version="1.4")`` shares one Monitor among all functions that name it. Further
    keyword arguments are Monitor settings used when the Monitor is first created. Get the
    Monitor back with :func:`aimon.get_monitor` or the wrapper's ``__aimon_monitor__``.

    >>> @monitor
    ... def predict(x):
    ...     return 2 * x
    >>> predict(21)
    42
    >>> predict.__aimon_monitor__.snapshot().count
    1
    >>> predict.__aimon_monitor__.close()
    """

    def decorate(func: F) -> F:
        target = getattr(func, "__func__", func)
        model = name or getattr(target, "__name__", None) or "default"
        if version is not None:
            settings["version"] = version
        return get_monitor(model, **settings).watch(features=features, sizes=sizes)(func)

    return decorate(fn) if fn is not None else decorate
