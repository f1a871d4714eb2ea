"""Build frozen dataclasses from TOML tables, with errors that name the key, file and line.

Each dataclass field's annotation is the schema: ``bool``, ``int``, ``float`` (an int is accepted,
a bool is not), ``str``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]`` (a TOML array),
``dict[str, Any]`` (a free table) and nested dataclasses (sub-tables). Unknown keys, missing
required keys, wrong types and values the dataclass's ``__post_init__`` rejects (a ``ValueError``
whose message starts with the field name) all become one :class:`~heralder.errors.ConfigError`
line. A dataclass may define ``normalise_config_table(table) -> table`` to accept alternative
spellings (``DetectorModel`` converts ``dark_rate_hz``). The setup file (:mod:`heralder.config`)
and study sweep files use it.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from heralder.errors import ConfigError

__all__ = ["key_error", "read_toml", "section_from_dict", "to_plain"]


class _Context:
    """Carry the file name and text so that errors can name the line of a key."""

    def __init__(self, path: str | None, text: str | None) -> None:
        self.path = path
        self.text = text

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=key or None, line=self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """Return the 1-based line where ``key`` (dotted) is set or its table starts."""
        if self.text is None or not key:
            return None
        parts = [re.sub(r"\[\d+\]$", "", p) for p in key.split(".")]
        table: list[str] = []
        header_line: dict[str, int] = {}
        for number, raw in enumerate(self.text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                table = [p.strip().strip("\"'") for p in header.group(1).split(".")]
                header_line.setdefault(".".join(table), number)
                if table == parts:
                    return number
                continue
            assign = re.match(r"([A-Za-z0-9_.\-\"' ]+?)\s*=", line)
            if assign:
                keys = [p.strip().strip("\"'") for p in assign.group(1).split(".")]
                if table + keys == parts:
                    return number
        for depth in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:depth])
            if prefix in header_line:
                return header_line[prefix]
        return None


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str, ctx: _Context) -> Any:
    """Return ``value`` checked (and, for tables, built) against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported annotation {tp!r} for {key}")
        return _convert(value, options[0], key, ctx)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ctx.error(key, f"must be one of {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ctx.error(key, f"must be an array, got {type(value).__name__}")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(_convert(v, item_tp, f"{key}[{i}]", ctx) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ctx.error(key, f"must be a table, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ctx.error(key, f"must be a table, got {type(value).__name__}")
        return _build(tp, value, key, ctx)
    if tp is bool:
        if not isinstance(value, bool):
            raise ctx.error(key, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.error(key, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ctx.error(key, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ctx.error(key, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def _build(cls: type, table: dict[str, Any], prefix: str, ctx: _Context) -> Any:
    """Build dataclass ``cls`` from ``table``, naming ``prefix.key`` in every error."""

    def dotted(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    normalise = getattr(cls, "normalise_config_table", None)
    if normalise is not None:
        try:
            table = normalise(table)
        except ValueError as exc:
            raise ctx.error(prefix, str(exc)) from None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ctx.error(
            dotted(unknown[0]),
            f"unknown key '{unknown[0]}' (valid keys: {', '.join(sorted(fields))})",
        )
    kwargs: dict[str, Any] = {}
    for name, fld in fields.items():
        if name in table:
            kwargs[name] = _convert(table[name], hints[name], dotted(name), ctx)
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ctx.error(dotted(name), f"missing required key '{name}'")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        bad = next((n for n in kwargs if re.match(rf"\b{n}\b", str(exc))), None)
        raise ctx.error(dotted(bad) if bad else prefix, str(exc)) from None


def read_toml(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read the TOML file at ``path`` and return its parsed tables and its text.

    Raises
    ------
    ConfigError
        If the file is missing, unreadable or not TOML (naming the file and the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not a TOML file (not UTF-8 text)", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise ConfigError(
            f"not valid TOML: {str(exc).split(' (at line')[0]}",
            path=str(path),
            line=int(match.group(1)) if match else None,
        ) from None


def section_from_dict(
    cls: type, table: dict[str, Any], *, key: str = "", path: str | None = None,
    text: str | None = None,
) -> Any:
    """Build the frozen dataclass ``cls`` from one TOML table with the checks of every section.

    Other TOML files of heralder (study sweeps) use this so that their errors read like the
    setup file's: unknown keys, wrong types and rejected values name ``key.field``, the file and
    the line.

    Raises
    ------
    ConfigError
        If a key is unknown, missing or has a value ``cls`` rejects.
    """
    return _build(cls, table, key, _Context(path, text))


def key_error(message: str, *, key: str, path: str | None = None,
              text: str | None = None) -> ConfigError:
    """Return a :class:`ConfigError` for dotted ``key`` of a TOML file, with the key's line."""
    return _Context(path, text).error(key, message)


def to_plain(section: Any) -> dict[str, Any]:
    """Return a dataclass (a whole config or a section) as plain TOML-ready data.

    Options left at ``None`` are dropped (TOML has no null).
    """

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.name != "source" and getattr(value, f.name) is not None
            }
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(section)
