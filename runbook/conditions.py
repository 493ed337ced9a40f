"""Safe evaluation of step `when` conditions over params and captures (no eval, no calls).

`x in s`, where `s` is text (a capture such as "ftd2, ftd3"), asks whether `x` is one of its
comma- or space-separated words; on a list it is ordinary membership.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConditionError


def _within(item: Any, container: Any) -> bool:
    """`in`: a text container is a list of comma/space separated words (device names)."""
    if isinstance(container, str):
        return str(item) in re.split(r"[\s,]+", container.strip())
    return item in (container or ())


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.In: _within, ast.NotIn: lambda a, b: not _within(a, b)}


def parse(expr: str) -> ast.Expression:
    """Parse and check `expr`; raises ConditionError naming what is not allowed."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"condition {expr!r} is not valid: {exc.msg}") from None
    for node in ast.walk(tree):
        ok = isinstance(node, ast.Expression | ast.BoolOp | ast.And | ast.Or | ast.UnaryOp
                        | ast.Not | ast.Compare | ast.Name | ast.Load | ast.Constant | ast.List
                        | ast.Tuple) or type(node) in _COMPARE
        if not ok:
            raise ConditionError(f"condition {expr!r}: `{ast.unparse(node)}` is not allowed "
                                 "(use names, literals, ==, !=, <, >, in, not in, and, or, not)")
    return tree


def names(expr: str) -> set[str]:
    """Names the condition reads."""
    return {n.id for n in ast.walk(parse(expr)) if isinstance(n, ast.Name)}


def evaluate(expr: str, values: Mapping[str, Any]) -> bool:
    """Evaluate `expr` with `values`; raises ConditionError for unknown names."""

    def ev(node: ast.AST) -> Any:
        match node:
            case ast.Expression(body=body):
                return ev(body)
            case ast.Constant(value=v):
                return v
            case ast.Name(id=name):
                if name not in values:
                    raise ConditionError(f"condition {expr!r}: unknown name {name!r}")
                return values[name]
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return [ev(e) for e in elts]
            case ast.UnaryOp(operand=operand):
                return not ev(operand)
            case ast.BoolOp(op=ast.And(), values=vals):
                return all(ev(v) for v in vals)
            case ast.BoolOp(values=vals):
                return any(ev(v) for v in vals)
            case ast.Compare(left=left, ops=ops, comparators=comps):
                cur = ev(left)
                for op, comp in zip(ops, comps, strict=True):
                    nxt = ev(comp)
                    if not _COMPARE[type(op)](cur, nxt):
                        return False
                    cur = nxt
                return True
        raise ConditionError(f"condition {expr!r} cannot be evaluated")

    return bool(ev(parse(expr)))
