"""User-controlled text inside Streamlit Markdown (st.markdown, st.caption, st.error ... bodies).

Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of them), so
a file name like ``[x](http://evil)``, ``**x**``, ``<img ...>`` or ``$x$`` stays literal text; a
newline becomes a space, so the text cannot start a block of its own.
"""
from __future__ import annotations

from typing import Any

_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def escape(text: Any) -> str:
    """`text` (str() of it) as literal Markdown."""
    return "".join("\\" + c if c in _PUNCT else c for c in str(text).replace("\n", " "))
