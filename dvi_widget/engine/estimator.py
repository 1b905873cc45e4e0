"""What every engine's estimator shares (:class:`~dvi_widget.engine.fit.DVI`,
:class:`~dvi_widget.engine.deepview.DeepView`): scikit-learn-style parameters read from the
constructor's signature, their hash (what identifies a saved fit), checks whose errors name the
parameter, and the fitted state an estimator exposes as its own attributes and methods.

An engine subclasses :class:`Estimator`, lists its fitted attributes in ``FITTED_ATTRIBUTES``
and the parameters that do not change a fitted epoch in ``UNHASHED``, and delegates methods to
its fitted state (``embedding_``) with :func:`delegate`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np


class NotFittedError(ValueError, AttributeError):
    """Raised when a method needs a fitted estimator (like scikit-learn's)."""


def delegate(embedding: type, name: str) -> Callable[..., Any]:
    """A method of an estimator that calls its fitted state's method ``name`` (documented as
    ``embedding.name``)."""
    impl = getattr(embedding, name)

    @functools.wraps(impl)
    def method(self: Estimator, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        return getattr(self.embedding_, name)(*args, **kwargs)

    return method


def is_int(v: object) -> bool:
    """An integer, not a bool."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def is_real(v: object) -> bool:
    """A finite real number, not a bool."""
    return (isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            and bool(np.isfinite(v)))


class Estimator:
    """Parameters, their hash and checks, and the fitted state (see the module docstring)."""

    #: the fitted state's attributes that a fitted estimator exposes as its own
    FITTED_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset()
    #: parameters that do not change the fitted epochs (left out of the hash)
    UNHASHED: ClassVar[frozenset[str]] = frozenset()
    #: upper bounds of integer parameters (iterations), so that no setting runs indefinitely
    MAX_INT: ClassVar[dict[str, int]] = {}

    # -------------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        """The constructor's arguments, in order."""
        return tuple(name for name, p in inspect.signature(cls.__init__).parameters.items()
                     if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name (scikit-learn style)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:  # noqa: ANN401 - any parameter value
        """Set constructor arguments by name; returns self."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"unknown parameter {name!r}; valid: {sorted(names)}")
            setattr(self, name, value)
        return self

    def _json_params(self) -> dict[str, Any]:
        """The parameters as a saved fit keeps them (JSON values)."""
        params = self.get_params()
        params["device"] = str(params["device"])
        return params

    def _params_hash(self, extra: dict[str, Any] | None = None) -> str:
        """What identifies the fitted epochs: the hashed parameters (and ``extra``)."""
        params = {k: v for k, v in self._json_params().items() if k not in self.UNHASHED}
        params.update(extra or {})
        text = json.dumps(params, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    # -------------------------------------------------------------------- checks
    def _fail(self, name: str, what: str) -> None:
        raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")

    def _check_int(self, name: str, lo: int, hi: int | None = None) -> None:
        """``name`` must be an int in ``[lo, hi]`` (``hi`` default: ``MAX_INT[name]``)."""
        v = getattr(self, name)
        hi = self.MAX_INT.get(name) if hi is None else hi
        if not (is_int(v) and v >= lo and (hi is None or v <= hi)):
            self._fail(name, f"an int >= {lo}" + ("" if hi is None else f" and at most {hi}"))

    def _check_real(self, name: str, lo: float, hi: float = np.inf, lo_open: bool = False,
                    hi_open: bool = False) -> None:
        """``name`` must be a finite number in the interval (open or closed at each end)."""
        v = getattr(self, name)
        inside = is_real(v) and (v > lo if lo_open else v >= lo) and (
            v < hi if hi_open else v <= hi)
        if not inside:
            what = (f"{'>' if lo_open else '>='} {lo}" if hi == np.inf else
                    f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}")
            self._fail(name, f"a finite number {what}")

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        if getattr(self, name) not in choices:
            self._fail(name, "one of " + ", ".join(f'"{c}"' for c in choices))

    # -------------------------------------------------------------------- the fitted state
    def _not_fitted(self) -> str:
        return (f"This {type(self).__name__} instance is not fitted yet; call fit(run) or "
                f"{type(self).__name__}.load(run) first.")

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the fitted state's attribute
        if name == "embedding_" or name in self.FITTED_ATTRIBUTES:
            fitted = self.__dict__.get("embedding_")
            if fitted is None:
                raise NotFittedError(self._not_fitted())
            return getattr(fitted, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
