"""torch, imported when something first computes with it.

The page's first view needs only what model folders and the registries declare: titles, settings,
shapes, stored codes. `import torch` alone takes longer than that whole first view (bench/bench_app.py),
so the modules it reads (the registries' members, the data records, `config`, `store.folders`) take
torch from here, and importing them imports no torch; the first attribute read (`torch.randn`,
`nn.Parameter`) does. A registry member that is a `torch.nn.Module` once built (priors, likelihoods)
derives from `BuiltAsModule`: declaring it needs no torch, building one makes it a module.

This module imports nothing of the package.
"""
from __future__ import annotations

import functools
import importlib
import sys
from types import ModuleType


class LazyModule:
    """Stands for the module `name` and imports it on the first attribute read. Reads, writes and
    deletions are the module's own, so it behaves as the module does (a name patched on either is seen
    by both), at about 0.4 µs a read."""

    __slots__ = ("_lazy_name", "_lazy_module")

    def __init__(self, name: str):
        object.__setattr__(self, "_lazy_name", name)
        object.__setattr__(self, "_lazy_module", None)

    def loaded(self) -> ModuleType:
        module = object.__getattribute__(self, "_lazy_module")
        if module is None:
            module = importlib.import_module(object.__getattribute__(self, "_lazy_name"))
            object.__setattr__(self, "_lazy_module", module)
        return module

    def __getattribute__(self, attr: str):
        if attr == "loaded":
            return object.__getattribute__(self, attr)
        return getattr(LazyModule.loaded(self), attr)

    def __setattr__(self, attr: str, value) -> None:
        setattr(LazyModule.loaded(self), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(LazyModule.loaded(self), attr)

    def __repr__(self) -> str:
        return f"<lazy module {object.__getattribute__(self, '_lazy_name')!r}>"


def imported(name: str) -> bool:
    """Whether the module `name` has been imported (or is being imported) in this process."""
    return name in sys.modules


def configure_cpu_numerics() -> None:
    """Flush subnormal floats to zero.

    Adam's running averages for ReLU units that never fire decay into subnormals,
    which this kind of CPU handles very slowly: epochs measured 6.0 -> 9.6 -> 12.9 s
    without this, flat 6.9 s with it, losses unchanged.

    Called when `vae_core.model.networks` and `vae_core.training.runtime` are imported: before any
    model computes, so before any torch operation has started the OpenMP worker threads (a worker
    copies the floating-point flags of the thread that creates it, so a flag set later reaches only
    the calling thread; measured: with one decode before train(), epochs went 6.6 -> 10.8 s; flushed
    at import, flat 4.5 s). Nothing in the package computes with torch before one of them is imported.
    """
    torch.set_flush_denormal(True)


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
dist = LazyModule("torch.distributed")


class BuiltAsModule:
    """Base of a class that is declared without torch and is a `torch.nn.Module` once built: calling it
    builds an instance of `module_class(cls)`, so `Gaussian(shape).double()` and `model.prior = …`
    work as with any module, and `isinstance(x, Gaussian)` holds."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(module_class(cls))


@functools.cache
def module_class(cls: type) -> type:
    """`cls` with `torch.nn.Module` mixed in: the class a registry member is built as.

    The member's own methods come first and `nn.Module` after them, so its `__init__`'s
    `super().__init__()` runs `nn.Module.__init__`; the name and module are the member's own, so
    printed models, errors and `state_dict` keys read as if it had subclassed `nn.Module` itself."""
    if issubclass(cls, nn.Module):
        return cls
    return type(cls.__name__, (cls, nn.Module), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                                 "__doc__": cls.__doc__})
