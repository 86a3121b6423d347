"""Members and the settings they bring: the one mechanism behind every registry.

An objective, a prior, a likelihood or a dataset kind is a *member*: a class in a file of its own
that declares its `name` (the value a config holds), its `title` (what people read), a one-line
`help`, and the `options` it brings (`Option`: a setting with its default, help, bounds and
choices). A `Registry` lists the members of one kind, in order, under the config field that picks
one of them (`objective`, `prior`, …). From the registries `vae_core.config` builds ModelConfig's and
TrainConfig's fields, and with them the CLI's options, the page's form and its choice lists: adding
a member is one new file and one line in its registry (docs/extending.md walks through each kind).

This module imports nothing of the package, so any member can use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

SECTIONS = ("model", "train")


@dataclass(frozen=True)
class Option:
    """One setting a member brings: a field of ModelConfig (`section="model"`: it shapes the network,
    so it is saved with the weights) or of TrainConfig (`"train"`). The name is global, so it says
    whose it is (`mmd_lambda`); two members may share an option by declaring the same one."""

    name: str
    default: Any
    help: str
    section: str = "train"
    type: type | None = None  # int, float, str, bool; default: the default's type
    label: str | None = None  # the form's words for it (default: the name, spelled out)
    choices: tuple | None = None
    min: float | None = None  # bounds; ints default to ≥ 1, floats to > 0 (`strict`)
    max: float | None = None
    strict: bool = True  # the lower bound excluded (floats)
    max_strict: bool = False
    optional: bool = False  # None allowed (meaning: see the help)
    legacy: tuple = ()  # values old model folders hold, read but not offered
    main: bool = False  # shown among the form's first fields, not under "Advanced"
    flags: tuple[str, ...] = ()  # more spellings on the command line

    def __post_init__(self):
        if self.section not in SECTIONS:
            raise ValueError(f"option {self.name}: section must be one of {SECTIONS}; got {self.section!r}")
        if self.type is None and self.default is None:
            raise ValueError(f"option {self.name}: give its type when the default is None")

    @property
    def value_type(self) -> type:
        return self.type or type(self.default)

    def metadata(self) -> dict:
        """The field metadata vae_core.config's checks and settings() read."""
        meta = {"help": self.help, "strict": self.strict, "max_strict": self.max_strict, "main": self.main,
                "label": self.label}
        for key in ("choices", "min", "max", "flags"):
            value = getattr(self, key)
            if value not in (None, ()):
                meta[key] = value
        if self.optional:
            meta["optional"] = True
        if self.legacy:
            meta["legacy"] = self.legacy
        return meta


class Member:
    """Base of every registry's members: what a member says about itself."""

    name: ClassVar[str]
    title: ClassVar[str]
    help: ClassVar[str] = ""  # one line: what it is, for the CLI's help and the page
    options: ClassVar[tuple[Option, ...]] = ()


class Registry:
    """The members of one kind, by name, in the order they are listed; `key` is the config field that
    picks one (`objective`). Iterating yields the names, like the dict it replaces."""

    def __init__(self, kind: str, key: str, members: Iterable[type[Member]]):
        self.kind, self.key = kind, key
        self._members: dict[str, type[Member]] = {}
        for member in members:
            if member.name in self._members:
                raise ValueError(f"two {kind} named {member.name!r}")
            self._members[member.name] = member

    def __getitem__(self, name: str) -> type[Member]:
        return self._members[name]

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def items(self):
        return self._members.items()

    def values(self):
        return self._members.values()

    def get(self, name: str, default=None):
        return self._members.get(name, default)

    def titles(self) -> dict[str, str]:
        return {name: member.title for name, member in self._members.items()}

    def describe(self, lead: str) -> str:
        """`lead`: then each member's name and help, for a help text."""
        return f"{lead}: " + ", ".join(f"{name} ({m.help})" if m.help else name for name, m in self._members.items())

    def options(self) -> list[tuple[Option, tuple[str, ...]]]:
        """Every option the members bring, each with the names of the members that bring it (the
        members it applies to), in the members' order; a name declared twice must be the same option."""
        found: dict[str, tuple[Option, list[str]]] = {}
        for name, member in self._members.items():
            for option in member.options:
                if option.name in found and found[option.name][0] != option:
                    raise ValueError(f"{self.kind} {name!r} declares {option.name!r} unlike "
                                     f"{found[option.name][1][0]!r} does: share one Option")
                found.setdefault(option.name, (option, []))[1].append(name)
        return [(option, tuple(names)) for option, names in found.values()]
