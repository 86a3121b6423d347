"""Shared AppTest checks: no exception and no traceback text anywhere on the rendered page."""
from streamlit.testing.v1 import AppTest


def page_text(at: AppTest) -> str:
    """Every element's protobuf as text: what the browser would be sent."""
    out = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, at.exception
    text = page_text(at)
    for needle in ("Traceback", "stack_trace", 'File "'):
        assert needle not in text, text[:2000]
