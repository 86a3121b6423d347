"""Show messages as they are written: Streamlit renders st.error/st.markdown text as Markdown
(with LaTeX between dollar signs), which ate the backslash of the tag rule ("no '\\'") and
would turn `$VAE_DATA_DIR ... $HOME` into math."""
from __future__ import annotations

import re

# What changes the text of a sentence in Markdown: a backslash escapes the next character, dollars
# open LaTeX, asterisks and tildes emphasise or strike even inside a word, backticks open code.
# Underscores inside words (batch_size) and other punctuation are left alone: Markdown keeps them.
_SPECIAL = re.compile(r"([\\$*`~])")


def plain(text: str) -> str:
    """Text with the characters Markdown would swallow escaped, so it renders as written."""
    return _SPECIAL.sub(r"\\\1", str(text))
