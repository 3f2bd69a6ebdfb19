"""Text that can be written out: every string aimon turns into a label or a log line must
encode to UTF-8, and a lone surrogate (``"\\ud800"``, which a JSON escape or a
``surrogateescape``-decoded name can hold) does not. One such label made every ``/metrics``
answer 500."""

from __future__ import annotations

import re

__all__ = ["valid_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the replacement character), so
    that it encodes to UTF-8; ``text`` itself when it already does.

    >>> valid_text("age"), valid_text("a\\ud800ge")
    ('age', 'a\\ufffdge')
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)
