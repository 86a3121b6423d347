"""The component's JavaScript as one ES module, made from the small modules beside this file.

st.components.v2 takes one inline module, where `import "./nn.js"` has nothing to resolve against,
so the modules are joined here: each imported module becomes a function scope whose exports are
returned as an object (`const __nn = (() => { ... return {compile, ...}; })();`), and each
`import { a, b } from "./nn.js";` becomes `const { a, b } = __nn;`. The entry's own `export default`
stays, as the component needs it. The modules follow three rules this relies on: imports are
single-line, from "./<name>.js"; exports are `export function|class|const|let NAME` or
`export default NAME;`; no two imported modules import each other in a cycle.
"""
from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

_IMPORT = re.compile(r'^import\s+(?:\{([^}]*)\}|(\w+))\s+from\s+"\./([\w-]+)\.js";\s*$', re.M)
_EXPORT_DECL = re.compile(r"^export\s+(?!default)((?:async\s+)?(?:function\*?|class|const|let)\s+(\w+))", re.M)
_EXPORT_DEFAULT_NAME = re.compile(r"^export\s+default\s+(\w+);\s*$", re.M)


def _module_var(name: str) -> str:
    return "__" + re.sub(r"\W", "_", name)


def _rewrite_imports(source: str, order: list[str]) -> str:
    def replace(m: re.Match) -> str:
        names, default, module = m.group(1), m.group(2), m.group(3)
        if module not in order:
            raise ValueError(f"import of ./{module}.js, which is not bundled before it")
        var = _module_var(module)
        if default:
            return f"const {default} = {var}.default;"
        bindings = ", ".join(part.strip().replace(" as ", ": ") for part in names.split(",") if part.strip())
        return f"const {{ {bindings} }} = {var};"
    return _IMPORT.sub(replace, source)


def _wrap(name: str, source: str, done: list[str]) -> str:
    """One imported module as a scope returning its exports."""
    exported = [m.group(2) for m in _EXPORT_DECL.finditer(source)]
    body = _EXPORT_DECL.sub(r"\1", source)
    default = _EXPORT_DEFAULT_NAME.search(body)
    body = _EXPORT_DEFAULT_NAME.sub("", body)
    if re.search(r"^export\s", body, re.M):
        raise ValueError(f"{name}.js: an export form the bundler does not read")
    names = exported + ([f"default: {default.group(1)}"] if default else [])
    return (f"// ---- {name}.js\nconst {_module_var(name)} = (() => {{\n{_rewrite_imports(body, done)}\n"
            f"return {{ {', '.join(names)} }};\n}})();\n")


def bundle(modules: list[str], entry: str) -> str:
    """`modules` (names without .js, each after the ones it imports) wrapped, then `entry`'s source
    (a file name without .js, or JavaScript text) with its imports rewritten, at the top level."""
    parts, done = [], []
    for name in modules:
        parts.append(_wrap(name, (HERE / f"{name}.js").read_text(), done))
        done.append(name)
    source = (HERE / f"{entry}.js").read_text() if re.fullmatch(r"[\w-]+", entry) else entry
    parts.append(_rewrite_imports(source, done))
    return "\n".join(parts)


# What the page's component runs, each module after the ones it imports; map.js, the entry, wires them.
MODULES = ["nn", "pixels", "decoder", "encoder",                       # forward passes, the one pixel path
           "dom", "format", "load", "stats", "layout", "pad", "tile",  # elements, numbers, files, counters
           "view", "plane", "points", "axes", "layers", "marks", "grid",  # a map's geometry and drawing
           "modelmap", "sliders", "panel", "drawing"]                  # the parts map.js wires together


def component_js() -> str:
    return bundle(MODULES, "map")


def test_page_js() -> str:
    """The forward passes and the pad alone, as globals, for the browser tests' blank pages."""
    return bundle(["nn", "pixels", "decoder", "encoder", "dom", "pad"],
                  'import { VaeDecoder } from "./decoder.js";\nimport { VaeEncoder } from "./encoder.js";\n'
                  'import { DrawingPad } from "./pad.js";\n'
                  "window.VaeDecoder = VaeDecoder;\nwindow.VaeEncoder = VaeEncoder;\nwindow.DrawingPad = DrawingPad;\n")
