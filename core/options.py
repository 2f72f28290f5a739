"""Declarative option schemas: one typed, bounded list of options checks untrusted values for every entry point.

A `Schema` is the single statement of what a set of options accepts (starter-bundle options, benchmark run
config). The API, the page forms and the CLIs are generated from it (hub/options.py for the Django side,
`add_arguments` here for argparse), and all of them validate through `Schema.validate`, so they accept the same
values and refuse the same ones with the same message, naming the field.

Pure python (no Django): a notebook or the core itself can use a schema directly.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int", "float", "bool", "choice", "str", "list"]
KINDS: tuple[str, ...] = ("int", "float", "bool", "choice", "str", "list")

_INT_TEXT = re.compile(r"[+-]?\d{1,12}")
_MAX_NUMBER_TEXT = 32
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_LIST_SEPARATORS = re.compile(r"[,\n]+")  # a form or query-string list: one per line or comma separated
_SHOWN = 40  # characters of a refused value quoted back in a message


class OptionError(ValueError):
    """A refused value; `field` names the option (or the unknown key) and `message` says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _number(value: float) -> str:
    """4096, 0.5 or 1e-06: whole numbers in full (a seed bound is 4294967295, not 4.29497e+09)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _blank(value: Any) -> bool:
    return value is None or value == ""


@dataclass(frozen=True)
class Option:
    """One option: its type, default and the values it accepts.

    `minimum`/`maximum` bound numbers (inclusive, but for `exclusive_minimum`); `choices` lists a choice's
    values; `pattern` is a full-match regex for a string. `hint` says in words what a good value looks like and
    replaces the generated wording of a refusal. `label` names it on page forms (default: from the name);
    `advanced` options are folded away there.
    """

    name: str
    kind: Kind
    default: Any = None
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    hint: str = ""
    label: str = ""
    advanced: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"option {self.name}: choices go with kind 'choice', and only with it")
        if self.default is not None:
            self.check(self.default)  # a schema whose own default it refuses is a programming error

    @property
    def title(self) -> str:
        """The label of a form field: `label`, or the name in words (batch_size: "Batch size")."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def flag(self) -> str:
        """The CLI flag: --batch-size for batch_size."""
        return "--" + self.name.replace("_", "-")

    # -- parsing: untrusted JSON, form, query-string or CLI values ----------------------------------------

    def clean(self, value: Any) -> Any:
        """The checked value of an untrusted one: text is parsed, a missing or blank value gives the default."""
        if _blank(value):
            return self.default
        return self.check(self._parse(value))

    def _parse(self, value: Any) -> Any:
        if self.kind == "int":
            return self._parse_int(value)
        if self.kind == "float":
            return self._parse_float(value)
        if self.kind == "bool":
            return self._parse_bool(value)
        if self.kind == "list":
            return self._parse_list(value)
        if not isinstance(value, str):
            raise self.error("must be a string")
        return value.strip()

    def _parse_int(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.error("must be an integer, not a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
            return int(value.strip())
        raise self.error("must be an integer")

    def _parse_float(self, value: Any) -> float:
        if isinstance(value, bool):
            raise self.error("must be a number, not a boolean")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and len(value) <= _MAX_NUMBER_TEXT:
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise self.error("must be a number")

    def _parse_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error("must be true or false")

    def _parse_list(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            text = value.strip()
            return tuple(part.strip() for part in _LIST_SEPARATORS.split(text)) if text else ()
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(item.strip() for item in value)
        raise self.error("must be a list of strings")

    # -- checking: values already of the option's type (a dataclass built in code, or a parsed value) ------

    def check(self, value: Any) -> Any:
        """Refuse a value of the wrong type or out of bounds; return it unchanged."""
        if value is None and self.default is None:
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error("must be an integer")
            self._check_range(value)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise self.error("must be a finite number")
            self._check_range(value)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise self.error("must be true or false")
        elif self.kind == "list":
            if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
                raise self.error("must be a tuple of strings")
        elif not isinstance(value, str):
            raise self.error("must be a string")
        elif self.kind == "choice" and value not in self.choices:
            raise self.error(f"must be one of {', '.join(self.choices)}, got {value!r:.{_SHOWN}}")
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise self.error(
                f"must be {self.hint or f'text matching {self.pattern}'}, got {value!r:.{_SHOWN}}"
            )
        return value

    def _check_range(self, value: float) -> None:
        low, high = self.minimum, self.maximum
        below = low is not None and (value <= low if self.exclusive_minimum else value < low)
        above = high is not None and value > high
        if below or above:
            raise self.error(f"{self.describe_range()}, got {_number(value)}")

    def describe_range(self) -> str:
        """The bounds in words: 'must be between 2 and 4096', 'must be at least 0', ..."""
        if self.hint:
            return f"must be {self.hint}"
        low, high = self.minimum, self.maximum
        if low is not None and self.exclusive_minimum:
            return f"must be greater than {_number(low)}" + (
                f" and at most {_number(high)}" if high is not None else ""
            )
        if low is not None and high is not None:
            return f"must be between {_number(low)} and {_number(high)}"
        if low is not None:
            return f"must be at least {_number(low)}"
        return f"must be at most {_number(high)}"

    def error(self, message: str) -> OptionError:
        return OptionError(self.name, message)

    def describe(self) -> str:
        """The help text with the accepted values and the default, for a CLI's --help."""
        parts = [self.help.rstrip(".")] if self.help else []
        if self.choices:
            parts.append(f"one of {', '.join(self.choices)}")
        elif self.hint:
            parts.append(self.hint)
        elif self.minimum is not None or self.maximum is not None:
            parts.append(self.describe_range().removeprefix("must be "))
        if self.default is not None:
            parts.append(f"default {self.default}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Schema:
    """An ordered set of options; `name` is what the whole mapping is called in an error ("target", "config")."""

    name: str
    options: tuple[Option, ...]

    def __post_init__(self) -> None:
        names = [option.name for option in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"schema {self.name}: option names repeat")

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def __getitem__(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    def defaults(self) -> dict[str, Any]:
        return {option.name: option.default for option in self.options}

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Every option's checked value from untrusted ones (defaults for the missing); OptionError names the field.

        Unknown keys are refused rather than ignored: a misspelt option must not silently take its default.
        """
        if not isinstance(raw, Mapping):
            raise OptionError(self.name, "must be an object")
        for key in raw:
            if key not in self.names:
                raise OptionError(str(key)[:64], f"unknown field; known fields: {', '.join(self.names)}")
        return {option.name: option.clean(raw.get(option.name)) for option in self.options}

    def check(self, values: Mapping[str, Any]) -> None:
        """Check values that are already typed (e.g. a dataclass built in code): types and bounds, no parsing."""
        for option in self.options:
            option.check(values[option.name])

    # -- argparse ------------------------------------------------------------------------------------------

    def add_arguments(
        self, parser: argparse.ArgumentParser, *, aliases: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        """One --flag per option. Values stay text and default to None (not given), so `validate` alone decides;
        `aliases` keeps older flag spellings working (e.g. {"num_workers": ("--workers",)})."""
        for option in self.options:
            flags = (option.flag, *(aliases or {}).get(option.name, ()))
            if option.kind == "bool":
                parser.add_argument(
                    *flags, dest=option.name, action=argparse.BooleanOptionalAction, default=None,
                    help=option.describe(),
                )  # fmt: skip
            else:
                metavar = "{" + ",".join(option.choices) + "}" if option.choices else option.name.upper()
                parser.add_argument(
                    *flags, dest=option.name, default=None, metavar=metavar, help=option.describe()
                )

    def arguments(self, parsed: Mapping[str, Any] | argparse.Namespace) -> dict[str, Any]:
        """The options given on a command line (those left out are absent, so they take the defaults)."""
        values = vars(parsed) if isinstance(parsed, argparse.Namespace) else parsed
        return {name: values[name] for name in self.names if not _blank(values.get(name))}
