"""The method registry: names mapped to :class:`Method` records.

A method is data plus two functions: ``extract(image, params) -> features`` and
``score(features_a, features_b, params) -> Similarity``. Features are a dict of numpy
arrays, so folder jobs can cache them (``np.savez``) and never re-extract per pair.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .errors import InvalidParameterError, MethodUnavailableError, UnknownMethodError
from .results import Similarity

__all__ = ["Param", "Method", "register", "get_method", "available_methods",
           "method_names", "Features"]

Features = dict[str, np.ndarray]


@dataclass(frozen=True)
class Param:
    """One tunable parameter of a method.

    Attributes
    ----------
    name : str
        Keyword name.
    default : Any
        Default value; its type is used to parse CLI strings.
    help : str
        One line for ``simlab methods`` and the docs.
    choices : tuple, optional
        Allowed values, for enumerations.
    low, high : float, optional
        Inclusive bounds, for numbers.
    extract : bool
        True when the parameter changes the extracted features (it is part of the
        feature-cache key); False when only scoring uses it.
    """

    name: str
    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    extract: bool = False

    def check(self, value: Any, method: str) -> Any:
        """Validate (and convert) ``value``; raise InvalidParameterError with the fix."""
        where = f"{method}.{self.name}"
        if self.choices is not None:
            if value not in self.choices:
                raise InvalidParameterError(
                    f"{where} must be one of {', '.join(map(repr, self.choices))}; got {value!r}")
            return value
        if isinstance(self.default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidParameterError(f"{where} must be True or False; got {value!r}")
            return bool(value)
        if isinstance(self.default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise InvalidParameterError(f"{where} must be a number; got {value!r}")
            if isinstance(self.default, int) and float(value) != int(value):
                raise InvalidParameterError(f"{where} must be a whole number; got {value!r}")
            value = type(self.default)(value)
            if (self.low is not None and value < self.low) or \
                    (self.high is not None and value > self.high):
                raise InvalidParameterError(
                    f"{where} must lie in [{self.low}, {self.high}]; got {value!r}")
        return value

    def parse(self, text: str, method: str) -> Any:
        """Turn a CLI string (``--set name=text``) into a checked value."""
        default = self.default
        if text.lower() in ("none", "null") and (default is None or self.choices is None
                                                 and isinstance(default, str)):
            return None
        try:
            if isinstance(default, bool):
                lowered = text.lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(text)
                value: Any = lowered in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text
        except ValueError:
            raise InvalidParameterError(
                f"{method}.{self.name} expects a {type(default).__name__}; got {text!r}"
            ) from None
        return self.check(value, method)


@dataclass(frozen=True)
class Method:
    """A similarity method: its name, parameters and the two functions behind it.

    Attributes
    ----------
    name : str
        Registry name.
    summary : str
        One line for ``simlab methods``.
    score_doc : str
        How the raw value maps to the score in ``[0, 1]``.
    extract : callable
        ``extract(image, params) -> dict[str, ndarray]`` on an RGB uint8 image.
    score : callable
        ``score(features_a, features_b, params) -> Similarity``.
    params : tuple of Param
        Tunable parameters with defaults.
    requires : tuple of str
        Importable modules the method needs.
    check_available : callable, optional
        ``check_available(params)`` raises a MethodUnavailableError (or subclass) that
        says why the method cannot run here and how to fix it.
    """

    name: str
    summary: str
    score_doc: str
    extract: Callable[[np.ndarray, Mapping[str, Any]], Features]
    score: Callable[[Features, Features, Mapping[str, Any]], Similarity]
    params: tuple[Param, ...] = ()
    requires: tuple[str, ...] = ()
    check_available: Callable[[Mapping[str, Any]], None] | None = None
    draws: str = field(default="pair")

    @property
    def defaults(self) -> dict[str, Any]:
        """Parameter names mapped to their default values."""
        return {p.name: p.default for p in self.params}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``overrides``, each checked.

        Raises InvalidParameterError naming the valid parameters for an unknown name.
        """
        by_name = {p.name: p for p in self.params}
        resolved = self.defaults
        for key, value in (overrides or {}).items():
            if key not in by_name:
                valid = ", ".join(by_name) or "(none)"
                raise InvalidParameterError(
                    f"{self.name} has no parameter {key!r}; valid parameters: {valid}")
            resolved[key] = by_name[key].check(value, self.name)
        return resolved

    def extract_key(self, params: Mapping[str, Any]) -> tuple:
        """The parameters that change the features: the cache key of an extraction."""
        return tuple((p.name, params[p.name]) for p in self.params if p.extract)

    def ensure_available(self, params: Mapping[str, Any] | None = None) -> None:
        """Raise MethodUnavailableError (or a subclass) if the method cannot run here."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MethodUnavailableError(
                    f"method {self.name!r} needs the Python package {module!r}: "
                    f"pip install {module}")
        if self.check_available is not None:
            self.check_available(self.resolve(params))

    def unavailable_reason(self, params: Mapping[str, Any] | None = None) -> str | None:
        """Why this method cannot run here (missing package or model file), or None."""
        try:
            self.ensure_available(params)
        except MethodUnavailableError as exc:
            return str(exc)
        return None


_REGISTRY: dict[str, Method] = {}
# Listing order of the built-in methods (cheap global ones first), whatever order their
# modules happen to be imported in; methods registered by users follow.
_BUILTIN_ORDER = ("histogram", "ssim", "phash", "sift", "rootsift", "akaze", "vgg16")


def register(method: Method) -> Method:
    """Add ``method`` to the registry (replacing one of the same name) and return it."""
    _REGISTRY[method.name] = method
    return method


def _load_builtin_methods() -> None:
    # Importing the modules registers them; none imports TensorFlow at top level.
    from .methods import histogram, ssim, phash, keypoints, akaze, deep  # noqa: F401


def method_names() -> list[str]:
    """Names of every registered method, in registration order.

    Examples
    --------
    >>> "sift" in method_names()
    True
    """
    _load_builtin_methods()
    rank = {name: i for i, name in enumerate(_BUILTIN_ORDER)}
    return sorted(_REGISTRY, key=lambda name: rank.get(name, len(rank)))


def get_method(name: str) -> Method:
    """The :class:`Method` registered as ``name``.

    Raises
    ------
    UnknownMethodError
        Listing the known names.

    Examples
    --------
    >>> get_method("ssim").name
    'ssim'
    """
    _load_builtin_methods()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown method {name!r}; try one of: {', '.join(method_names())}") from None


def available_methods() -> list[str]:
    """Names of the methods that can run here with their default parameters."""
    return [name for name in method_names() if _REGISTRY[name].unavailable_reason() is None]
