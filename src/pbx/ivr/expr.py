"""A tiny, safe expression language over call data (branch conditions, parameters).

Theory of operation: an expression is tokenised and parsed by recursive descent into
a tree of small frozen nodes, then evaluated against the call's data (a mapping of
variable name to value).  Nothing is ever handed to ``eval``: the grammar has no
attribute access, no calls, no subscripts and no arithmetic, so an expression can only
read variables and compare values.  The grammar, loosest binding first::

    expr  := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := atom (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") atom)?
    atom  := NUMBER | STRING | "true" | "false" | "none" | NAME
           | "(" expr ")" | "[" (atom ("," atom)*)? "]"

Values typed by callers arrive as strings (``"1234"``), lookups may return numbers: a
comparison between a number and a string that spells a number compares numbers, so
``balance > 100`` works whichever side is text.  An unknown variable is ``none``.
Ordering comparisons between values that cannot be ordered (``none < 3``) are false,
never an error, so a running call never fails on a condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from attrs import frozen

from pbx.ivr.errors import IvrExpressionError

__all__ = ["Expr", "evaluate", "parse_expr", "truth", "variables"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "none"}
_CONSTANTS: dict[str, object] = {"true": True, "false": False, "none": None}


@frozen
class _Token:
    kind: str
    text: str
    column: int


@frozen
class Literal:
    """A constant: number, string, boolean or none."""

    value: object


@frozen
class Name:
    """A variable of the call data."""

    name: str


@frozen
class ListOf:
    """A list literal, the right-hand side of ``in``."""

    items: tuple[Expr, ...]


@frozen
class Not:
    """Logical negation."""

    operand: Expr


@frozen
class BoolOp:
    """``and`` / ``or`` over two or more operands (short-circuit)."""

    op: str
    operands: tuple[Expr, ...]


@frozen
class Compare:
    """A comparison: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``."""

    op: str
    left: Expr
    right: Expr


Expr = Literal | Name | ListOf | Not | BoolOp | Compare


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            break
        text = m.group(kind)
        column = m.start(kind) + 1
        if kind == "bad":
            if text == ".":
                raise IvrExpressionError(f"attribute access is not allowed (column {column})")
            raise IvrExpressionError(f"unexpected character {text!r} at column {column}")
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        tokens.append(_Token(kind, text, column))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0

    def peek(self, offset: int = 0) -> _Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def at(self, text: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind in ("kw", "op") and tok.text == text

    def take(self) -> _Token:
        tok = self.peek()
        if tok is None:
            raise IvrExpressionError("expected a value at the end")
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.peek()
        if tok is None:
            raise IvrExpressionError(f"expected {text!r} at the end")
        if not self.at(text):
            raise IvrExpressionError(f"expected {text!r} at column {tok.column}")
        self.pos += 1

    def parse(self) -> Expr:
        if not self.tokens:
            raise IvrExpressionError("expression is empty")
        tree = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise IvrExpressionError(f"unexpected {tok.text!r} at column {tok.column}")
        return tree

    def parse_or(self) -> Expr:
        operands = [self.parse_and()]
        while self.at("or"):
            self.pos += 1
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def parse_and(self) -> Expr:
        operands = [self.parse_not()]
        while self.at("and"):
            self.pos += 1
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def parse_not(self) -> Expr:
        if self.at("not"):
            self.pos += 1
            return Not(self.parse_not())
        return self.parse_cmp()

    def parse_cmp(self) -> Expr:
        left = self.parse_atom()
        for op in ("==", "!=", "<=", ">=", "<", ">", "in"):
            if self.at(op):
                self.pos += 1
                return Compare(op, left, self.parse_atom())
        if self.at("not") and self.at("in", 1):
            self.pos += 2
            return Compare("not in", left, self.parse_atom())
        return left

    def parse_atom(self) -> Expr:
        tok = self.take()
        if tok.kind == "number":
            value: object = float(tok.text) if "." in tok.text else int(tok.text)
            return Literal(value)
        if tok.kind == "string":
            return Literal(_unquote(tok.text))
        if tok.kind == "kw" and tok.text in _CONSTANTS:
            return Literal(_CONSTANTS[tok.text])
        if tok.kind == "name":
            if self.at("("):
                raise IvrExpressionError(
                    f"function calls are not allowed ({tok.text!r} at column {tok.column})"
                )
            if self.at("["):
                raise IvrExpressionError(
                    f"subscripts are not allowed ({tok.text!r} at column {tok.column})"
                )
            return Name(tok.text)
        if tok.kind == "op" and tok.text == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if tok.kind == "op" and tok.text == "[":
            items: list[Expr] = []
            if not self.at("]"):
                items.append(self.parse_atom())
                while self.at(","):
                    self.pos += 1
                    items.append(self.parse_atom())
            self.expect("]")
            return ListOf(tuple(items))
        raise IvrExpressionError(f"expected a value at column {tok.column}, found {tok.text!r}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse_expr(source: str) -> Expr:
    """Parse ``source``; raises :class:`IvrExpressionError` with the reason and column."""
    return _Parser(source).parse()


def variables(tree: Expr) -> set[str]:
    """The variable names ``tree`` reads."""
    if isinstance(tree, Name):
        return {tree.name}
    if isinstance(tree, ListOf):
        return set().union(*(variables(i) for i in tree.items)) if tree.items else set()
    if isinstance(tree, Not):
        return variables(tree.operand)
    if isinstance(tree, BoolOp):
        return set().union(*(variables(o) for o in tree.operands))
    if isinstance(tree, Compare):
        return variables(tree.left) | variables(tree.right)
    return set()


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip()) if value.strip() else None
        except InvalidOperation:
            return None
    return None


def _coerce(left: object, right: object) -> tuple[object, object]:
    """Compare numbers as numbers when one side is a number and the other spells one."""
    numeric = (int, float, Decimal)
    lnum = isinstance(left, numeric) and not isinstance(left, bool)
    rnum = isinstance(right, numeric) and not isinstance(right, bool)
    if lnum or rnum:
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            return a, b
    return left, right


def _equal(left: object, right: object) -> bool:
    a, b = _coerce(left, right)
    return a == b


_ORDER: dict[str, Callable[[int], bool]] = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def _order(op: str, left: object, right: object) -> bool:
    a, b = _coerce(left, right)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        cmp = (a > b) - (a < b)
    elif isinstance(a, str) and isinstance(b, str):
        cmp = (a > b) - (a < b)
    else:
        return False
    return _ORDER[op](cmp)


def _contains(container: object, item: object) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple | set | frozenset):
        return any(_equal(item, x) for x in container)
    if isinstance(container, Mapping):
        return item in container
    return False


def evaluate(tree: Expr, data: Mapping[str, object]) -> object:
    """The value of ``tree`` over ``data`` (unknown variables are ``None``)."""
    if isinstance(tree, Literal):
        return tree.value
    if isinstance(tree, Name):
        return data.get(tree.name)
    if isinstance(tree, ListOf):
        return [evaluate(i, data) for i in tree.items]
    if isinstance(tree, Not):
        return not evaluate(tree.operand, data)
    if isinstance(tree, BoolOp):
        if tree.op == "and":
            return all(evaluate(o, data) for o in tree.operands)
        return any(evaluate(o, data) for o in tree.operands)
    left, right = evaluate(tree.left, data), evaluate(tree.right, data)
    if tree.op == "==":
        return _equal(left, right)
    if tree.op == "!=":
        return not _equal(left, right)
    if tree.op == "in":
        return _contains(right, left)
    if tree.op == "not in":
        return not _contains(right, left)
    return _order(tree.op, left, right)


def truth(tree: Expr, data: Mapping[str, object]) -> bool:
    """``evaluate`` as a condition."""
    return bool(evaluate(tree, data))
