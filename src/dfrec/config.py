"""The one dict → dataclass loader of dfrec's configs, and its inverse.

Every config is a dataclass tree: the model (:class:`dfrec.models.DFRECConfig`), the
synthesiser (:class:`dfrec.data.synth.SynthConfig`), the loss
(:class:`dfrec.losses.LossConfig`) and the training run (:class:`dfrec.train.Config`).
:func:`from_dict` builds any of them from a mapping (YAML, JSON, ``--set`` overrides) with
one set of rules:

* a key the dataclass does not declare raises :class:`~dfrec.errors.ConfigError`
  ``"<path>: unknown key (known: ...)"``;
* values are checked against the field's annotation and converted where that is lossless:
  ``int`` takes integral numbers, ``float`` takes numbers (and strings such as ``"1e-4"``,
  which YAML 1.1 leaves as text), ``bool`` only true/false, ``str`` only strings; lists
  become the annotated ``tuple``/``list``; ``Literal``, ``Optional``/unions, ``dict[K, V]``
  and ``Path`` are understood; a wrong value raises ``"<path>: expected ..., got ..."``;
* a nested dataclass given as a partial mapping keeps the *field's* defaults for the keys it
  leaves out (a section of the synthesiser config, say, keeps that section's own defaults);
  a ``dict`` field is replaced as a whole;
* range checks belong to each config class (its ``validate()``, run from ``__post_init__``),
  so a config is checked once, however it was built.

:func:`to_dict` is the inverse: plain nested dicts and lists, ready for YAML or JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

from dfrec.errors import ConfigError


def from_dict(cls: type, data: Any, path: str = "", default: Any = None) -> Any:
    """Build dataclass ``cls`` from mapping ``data`` (``None`` = all defaults).

    ``path`` names the section in error messages (``"loss"`` gives ``"loss.lambda_id: ..."``);
    ``default`` is the instance whose values fill the keys ``data`` leaves out (default:
    ``cls()``'s field defaults). An instance of ``cls`` is returned unchanged.
    """
    where = path or "config"
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in known]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            base = getattr(default, name) if default is not None else _field_default(known[name])
            kwargs[name] = from_dict(tp, value, sub, default=base)
        else:
            kwargs[name] = _convert(tp, value, sub)
    if default is not None:
        kwargs = {f: copy.deepcopy(getattr(default, f)) for f in known if f not in kwargs} | kwargs
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain nested dicts and lists (tuples and paths converted)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true/false"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Check/convert ``value`` to type ``tp``; raise ConfigError naming ``path``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        vt = args[1] if args else Any
        return {str(k): _convert(vt, v, f"{path}.{k}") for k, v in value.items()}
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        is_tuple = origin is tuple or tp is tuple
        if is_tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        et = args[0] if args else Any
        out = [_convert(et, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if is_tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{path}: expected a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
