"""Comparators for ``@wtb.parity(compare={key: comparator})``: how one state key's two values are judged.

Each comparator is a callable ``(baseline_value, value) -> True | False | str``: True agrees, False or a
string saying how (``"similarity 0.62 < 0.85"``) differs. Each is a small frozen dataclass so that its
repr names it in failure texts and it pickles whenever the functions it holds do. Nothing here downloads
or loads a model: semantic comparators take the user's own embedding or judge function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from pytest_wtb.errors import DeclarationError
from pytest_wtb.verdict.multiset import describe, multiset_difference, same

Verdict = bool | str
SCORERS: Final = ("ratio", "token_sort", "token_set")
_SHOW: Final = 80  # how much of a value a reason quotes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 3] + "..."


def _number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        bounds = f"in [{low:g}, {high:g}]" if high != math.inf else f">= {low:g}"
        raise DeclarationError(f"{name} must be a number {bounds}, got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_of(value: Any) -> str | None:
    """The text to compare: a str, or a LangChain message's text (its content blocks joined)."""
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)  # langchain-core messages: .text joins the text content blocks
    return str(text) if isinstance(text, str) and hasattr(value, "content") else None


@dataclass(frozen=True)
class Close:
    """Numbers within tolerance (``math.isclose``), also inside lists and dicts of numbers."""

    rel_tol: float = 1e-9
    abs_tol: float = 0.0

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        return self._judge("", baseline, value)

    def _judge(self, path: str, a: Any, b: Any) -> Verdict:
        where = f"at {path}: " if path else ""
        if _is_number(a) and _is_number(b):
            if (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or math.isclose(
                    a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol):
                return True
            return f"{where}{a!r} vs {b!r}: |difference| {abs(a - b):.6g} is beyond {self}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            if set(a) != set(b):
                return f"{where}keys differ: {_short(sorted(map(str, a)))} vs {_short(sorted(map(str, b)))}"
            return next((r for k in a if (r := self._judge(f"{path}.{k}" if path else str(k), a[k], b[k])) is not True),
                        True)
        if _is_seq(a) and _is_seq(b):
            if len(a) != len(b):
                return f"{where}lengths differ: {len(a)} vs {len(b)}"
            return next((r for i, (x, y) in enumerate(zip(a, b, strict=True))
                         if (r := self._judge(f"{path}[{i}]", x, y)) is not True), True)
        # anything else as parity judges it: messages by meaning (not ids), True is not 1
        return True if same(a, b) else f"{where}{_short(a)} vs {_short(b)}: not numbers and not equal"

    def __repr__(self) -> str:
        return f"wtb.close(rel_tol={self.rel_tol:g}, abs_tol={self.abs_tol:g})"


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def close(*, rel_tol: float = 1e-9, abs_tol: float = 0.0) -> Close:
    """Numbers agree when ``math.isclose(baseline, value, rel_tol=, abs_tol=)``."""
    return Close(_number("wtb.close(rel_tol=...)", rel_tol, 0.0), _number("wtb.close(abs_tol=...)", abs_tol, 0.0))


@dataclass(frozen=True)
class Unordered:
    """The same elements, each as often, in any order (a multiset comparison)."""

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        if not _is_collection(baseline) or not _is_collection(value):
            return f"{self} compares lists or sets, got {type(baseline).__name__} and {type(value).__name__}"
        missing, extra = multiset_difference(list(baseline), list(value))
        if not missing and not extra:
            return True
        parts = [f"missing {describe(missing)}" if missing else "", f"extra {describe(extra)}" if extra else ""]
        lengths = f" (lengths {len(baseline)} vs {len(value)})" if len(baseline) != len(value) else ""
        return "; ".join(p for p in parts if p) + lengths

    def __repr__(self) -> str:
        return "wtb.unordered()"


def _is_collection(value: Any) -> bool:
    return _is_seq(value) or isinstance(value, Set)


def unordered() -> Unordered:
    """Lists agree when they hold the same elements the same number of times, in any order."""
    return Unordered()


@dataclass(frozen=True)
class TextSimilarity:
    """Texts whose similarity (0..1, rapidfuzz's normalized Indel ratio) is at least ``min``."""

    min: float
    scorer: str = "ratio"

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        a, b = _text_of(baseline), _text_of(value)
        if a is None or b is None:
            return True if baseline == value else (
                f"{self} compares texts, got {type(baseline).__name__} and {type(value).__name__}")
        from rapidfuzz import fuzz  # lazily: only runs that compare text load it

        score = {"ratio": fuzz.ratio, "token_sort": fuzz.token_sort_ratio,
                 "token_set": fuzz.token_set_ratio}[self.scorer](a, b) / 100.0
        return True if score >= self.min else f"similarity {score:.2f} < {self.min:g}"

    def __repr__(self) -> str:
        extra = f", scorer={self.scorer!r}" if self.scorer != "ratio" else ""
        return f"wtb.text_similarity({self.min:g}{extra})"


def text_similarity(min: float, *, scorer: str = "ratio") -> TextSimilarity:
    """Texts agree when their similarity in [0, 1] is at least ``min``.

    ``scorer``: ``ratio`` (edit similarity of the whole texts), ``token_sort`` (the same words in any
    order), ``token_set`` (one text's words contained in the other's).
    """
    if scorer not in SCORERS:
        raise DeclarationError(f"wtb.text_similarity(scorer={scorer!r}): use one of {', '.join(SCORERS)}")
    return TextSimilarity(_number("wtb.text_similarity(min)", min, 0.0, 1.0), scorer)


@dataclass(frozen=True)
class Ignore:
    # compare() reports a key missing on one side unless its comparator says it handles that: ignore does
    handles_missing: ClassVar[bool] = True

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        return True

    def __repr__(self) -> str:
        return "wtb.ignore()"


def ignore() -> Ignore:
    """The key never differs (timestamps, debug output, anything a variant may change freely)."""
    return Ignore()


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__name__)


@dataclass(frozen=True)
class EmbeddingDistance:
    """Texts whose embeddings are at most ``max`` apart in cosine distance (1 - cosine similarity)."""

    embed: Any = field(repr=False)
    max: float

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        a, b = _text_of(baseline), _text_of(value)
        if a is None or b is None:
            return True if baseline == value else (
                f"{self} compares texts, got {type(baseline).__name__} and {type(value).__name__}")
        if a == b:
            return True  # no model call for the common case of an unchanged text
        va, vb = self._vectors(a, b)
        distance = cosine_distance(va, vb)
        return True if distance <= self.max else f"cosine distance {distance:.3f} > {self.max:g}"

    def _vectors(self, a: str, b: str) -> tuple[Sequence[float], Sequence[float]]:
        if callable(getattr(self.embed, "embed_documents", None)):  # a LangChain Embeddings: one batched call
            va, vb = self.embed.embed_documents([a, b])
            return va, vb
        if callable(getattr(self.embed, "embed_query", None)):
            return self.embed.embed_query(a), self.embed.embed_query(b)
        return self.embed(a), self.embed(b)

    def __repr__(self) -> str:
        return f"wtb.embedding_distance(embed={_name(self.embed)}, max={self.max:g})"


def cosine_distance(a: Iterable[float], b: Iterable[float]) -> float:
    """1 - cosine similarity, in [0, 2]; a zero vector has no direction and raises ValueError."""
    va, vb = [float(x) for x in a], [float(x) for x in b]
    if len(va) != len(vb):
        raise ValueError(f"embeddings of different lengths: {len(va)} and {len(vb)}")
    na, nb = math.sqrt(math.fsum(x * x for x in va)), math.sqrt(math.fsum(y * y for y in vb))
    if na == 0.0 or nb == 0.0:
        raise ValueError("an embedding is the zero vector: its cosine distance is undefined")
    return 1.0 - math.fsum(x * y for x, y in zip(va, vb, strict=True)) / (na * nb)


def embedding_distance(*, embed: Callable[[str], Sequence[float]] | Any, max: float) -> EmbeddingDistance:
    """Texts agree when the cosine distance of their embeddings is at most ``max`` (in [0, 2]).

    ``embed`` is a callable ``str -> vector`` or a LangChain ``Embeddings`` (``embed_documents`` is
    used, else ``embed_query``). It is the user's model: nothing is downloaded.
    """
    if not (callable(embed) or callable(getattr(embed, "embed_query", None))
            or callable(getattr(embed, "embed_documents", None))):
        raise DeclarationError(
            f"wtb.embedding_distance(embed=...) takes a callable str -> vector or a LangChain Embeddings, "
            f"got {type(embed).__name__}")
    return EmbeddingDistance(embed, _number("wtb.embedding_distance(max=...)", max, 0.0, 2.0))


@dataclass(frozen=True)
class Judge:
    """The user's judge (e.g. an LLM call) decides: ``fn(baseline, value) -> bool | str | score``."""

    fn: Callable[[Any, Any], Any] = field(repr=False)
    min: float | None = None

    def __call__(self, baseline: Any, value: Any) -> Verdict:
        verdict = self.fn(baseline, value)
        if isinstance(verdict, bool):
            return verdict
        if isinstance(verdict, str):
            return verdict or False  # an empty reason still differs
        if _is_number(verdict):
            if self.min is None:
                raise TypeError(f"the judge returned the score {verdict!r}: give it a threshold, "
                                f"wtb.judge({_name(self.fn)}, min=...)")
            return True if verdict >= self.min else f"judge {_name(self.fn)} scored {verdict:g} < {self.min:g}"
        raise TypeError(f"the judge returned {type(verdict).__name__}: it must return a bool, a str "
                        "(the reason they differ) or a number with min=")

    def __repr__(self) -> str:
        return f"wtb.judge({_name(self.fn)}" + (f", min={self.min:g})" if self.min is not None else ")")


def judge(fn: Callable[[Any, Any], Any], *, min: float | None = None) -> Judge:
    """LLM-as-judge or any verdict of your own: ``fn(baseline_value, value)`` returns

    - ``True`` (they agree) or ``False`` (they differ),
    - a str: the reason they differ (e.g. the judge's explanation),
    - a number: a score, agreeing when ``score >= min`` (``min`` is then required).
    """
    if not callable(fn):
        raise DeclarationError(f"wtb.judge(fn) takes a callable (baseline, value) -> bool | str | number, "
                               f"got {type(fn).__name__}")
    if min is not None and (isinstance(min, bool) or not isinstance(min, int | float) or math.isnan(min)):
        raise DeclarationError(f"wtb.judge(min=...) must be a number, got {min!r}")
    return Judge(fn, None if min is None else float(min))
