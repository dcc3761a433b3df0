"""A fast driver for the rule grammar's LALR(1) tables: the AST is built while parsing.

Lark builds the LALR tables and the contextual lexer from grammar/rules.lark; the
grammar stays the one source of the syntax. Lark's own loop builds a parse tree
(with positions propagated through every node) that `ToAst` then walks a second
time; for a large rule file that costs several times the parse itself. This
driver runs the same tables in one loop: it lexes with the same per-state
patterns, shifts and reduces by the same actions, keeps each symbol's source span
on a side stack, and calls `ToAst`'s methods directly at each reduction with the
same filtered children and an equivalent `meta`.

It only handles input that parses: on anything else (a syntax error, nesting over
the limit, an error raised by `ToAst`), `run` returns None and `parsing.parse`
parses the text again with Lark, whose exceptions and messages are the ones users
see. Lark's internals (`_parse_table`, the contextual lexer's per-state scanners,
the keyword callbacks) are read here and nowhere else; `Driver.of` checks what it
relies on and returns None, which keeps Lark's path, when they are not as
expected. tests/test_parsing.py checks that both paths build equal ASTs.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Lark, Token, Tree
from lark.lexer import PatternStr, UnlessCallback
from lark.parsers.lalr_analysis import Shift


class Meta:
    """What `ToAst` reads of Lark's `meta`: where a node starts and ends."""

    __slots__ = ("line", "column", "end_line", "end_column", "empty")

    def __init__(self, span: tuple[int, int, int, int] | None):
        if span is None:
            self.empty = True
        else:
            self.empty = False
            self.line, self.column, self.end_line, self.end_column = span


class _Splice(list):
    """Children of an inlined `_rule`: they become children of the rule that uses it."""


class _Reject(Exception):
    """The input is not for this driver; Lark's path takes over."""


class Driver:
    def __init__(self, actions: dict, goto: dict, start: int, end: int, lexers: dict, filtered: frozenset[str]):
        self.actions = actions
        self.goto = goto
        self.start = start
        self.end = end
        self.lexers = lexers
        self.filtered = filtered

    @classmethod
    def of(cls, lark: Lark, transformer: type) -> Driver | None:
        """A driver over `lark`'s tables calling `transformer`'s rule methods; None if Lark is not as expected."""
        try:
            return cls._build(lark, transformer)
        except Exception:  # an unexpected Lark version: keep Lark's own path
            return None

    @classmethod
    def _build(cls, lark: Lark, transformer: type) -> Driver | None:
        options = lark.options
        if options.parser != "lalr" or options.lexer != "contextual" or options.maybe_placeholders or options.keep_all_tokens:
            return None
        frontend = lark.parser
        table = frontend.parser._parse_table
        contextual = frontend.lexer
        rules = {}
        filtered: set[str] = set()
        for rule in lark.rules:
            if rule.options.keep_all_tokens or rule.options.template_source:
                return None
            include = []
            for i, sym in enumerate(rule.expansion):
                if sym.is_term and getattr(sym, "filter_out", False):
                    filtered.add(sym.name)
                    continue
                include.append((i, not sym.is_term and sym.name.startswith("_")))
            name = str(rule.alias or rule.origin.name)
            # `_rule`s are inlined into their parent, never handed to the transformer
            method = None if name.startswith("_") else transformer.__dict__.get(name)
            func = getattr(method, "base_func", method)
            if func is not None and getattr(method, "visit_wrapper", None) is None:
                return None  # only meta-taking (v_args(meta=True)) methods are known here
            expand1 = bool(rule.options.expand1 and not rule.alias)
            rules[id(rule)] = (
                len(rule.expansion),
                str(rule.origin.name),
                tuple(include),
                expand1,
                name,
                func,
                name.startswith("_") and func is None,
                # a unit rule (`?expr: sum`): the child stands for the rule, only the state changes
                expand1 and len(rule.expansion) == 1 and include == [(0, False)],
            )
        # actions[state][terminal] -> (True, next state) for a shift, (False, rule entry) for a reduce;
        # goto[state][rule name] -> next state. Plain str keys: Lark's Token keys compare slowly.
        actions: dict[int, dict[str, tuple[bool, Any]]] = {}
        goto: dict[int, dict[str, int]] = {}
        for state, table_row in table.states.items():
            actions[state] = {}
            goto[state] = {}
            for symbol, (action, arg) in table_row.items():
                if action is Shift and not str(symbol).isupper() and str(symbol) != "$END":
                    goto[state][str(symbol)] = arg
                if action is Shift:
                    actions[state][str(symbol)] = (True, arg)
                else:
                    actions[state][str(symbol)] = (False, rules[id(arg)])
        lexers: dict[int, tuple] = {}
        for state, basic in contextual.lexers.items():
            terminals = basic.scanner.terminals  # in Lark's order of preference; builds `callback` too
            keywords: dict[str, dict[str, str]] = {}
            for type_, callback in basic.callback.items():
                if not isinstance(callback, UnlessCallback):
                    return None
                words = {}
                for term in callback.scanner.terminals:
                    if not isinstance(term.pattern, PatternStr) or term.pattern.flags:
                        return None
                    words[term.pattern.value] = term.name
                keywords[type_] = words
            if basic.g_regex_flags or basic.use_bytes:
                return None
            # Ignored runs that cannot hold a newline (blanks) are skipped in the same match
            # as the token after them; the rest of the ignored terminals stay alternatives.
            skip = [t.pattern.to_regexp() for t in terminals if t.name in basic.ignore_types and t.name not in basic.newline_types]
            prefix = f"(?:{'|'.join(f'(?:{r})' for r in skip)})*" if skip else ""
            alternatives = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals)
            lexers[state] = (re.compile(f"{prefix}(?:{alternatives})"), basic.ignore_types, basic.newline_types, keywords)
        return cls(actions, goto, table.start_states["start"], table.end_states["start"], lexers, frozenset(filtered))

    def run(self, text: str, transformer: Any, max_depth: int) -> Any:
        """The AST of `text`, or None when the input is for Lark's path to report on."""
        try:
            return self._run(text, transformer, max_depth)
        except Exception:  # _Reject, or an error from a ToAst method: Lark's path says what it is
            return None

    def _run(self, text: str, transformer: Any, max_depth: int) -> Any:
        actions, goto, lexers, filtered, final = self.actions, self.goto, self.lexers, self.filtered, self.end
        states = [self.start]
        # one entry per symbol on the stack: (value, source span or None, height as a parse-tree
        # node: -1 for a token); spans are (line, column, end line, end column)
        stack: list[tuple[Any, Any, int]] = []

        def reduce(entry: tuple) -> None:
            size, origin, include, expand1, name, func, splice, _ = entry
            span = None
            if size:
                items = stack[-size:]
                del stack[-size:], states[-size:]
                first = last = None
                for item in items:
                    if item[1] is not None:
                        if first is None:
                            first = item[1]
                        last = item[1]
                if first is not None:
                    span = (first[0], first[1], last[2], last[3])  # type: ignore[index]
            else:
                items = []
            kids: Any = None
            height = -1
            for i, expand in include:
                value, _, h = items[i]
                if expand:
                    if kids is None:
                        kids = value  # left recursion (`x*`): grow the same list, as Lark does
                    else:
                        kids.extend(value)
                else:
                    if kids is None:
                        kids = _Splice() if splice else []
                    kids.append(value)
                if h > height:
                    height = h
            if kids is None:
                kids = _Splice() if splice else []
            if expand1 and len(kids) == 1:
                result = kids[0]
            elif splice:
                result = kids if isinstance(kids, _Splice) else _Splice(kids)
            else:
                height += 1
                if height > max_depth:
                    raise _Reject
                meta = Meta(span)
                result = func(transformer, meta, kids) if func is not None else Tree(name, kids, meta)  # type: ignore[arg-type]
            states.append(goto[states[-1]][origin])
            stack.append((result, span, height))

        pos, line, line_start, end = 0, 1, 0, len(text)
        while pos < end:
            pattern, ignore, newlines, keywords = lexers[states[-1]]
            m = pattern.match(text, pos)
            if m is None:
                raise _Reject
            type_ = m.lastgroup
            start_pos = m.start(type_)
            value = m.group(type_)
            pos = m.end()
            start_line, start_column = line, start_pos - line_start + 1
            if type_ in newlines:
                count = value.count("\n")
                if count:
                    line += count
                    line_start = start_pos + value.rindex("\n") + 1
            if type_ in ignore:
                continue
            if type_ in keywords:
                type_ = keywords[type_].get(value, type_)
            span = (start_line, start_column, line, pos - line_start + 1)
            token = value if type_ in filtered else Token(type_, value, start_pos, start_line, start_column, span[2], span[3], pos)
            while True:
                action = actions[states[-1]].get(type_)
                if action is None:
                    raise _Reject
                if action[0]:
                    states.append(action[1])
                    stack.append((token, span, -1))
                    break
                entry = action[1]
                if entry[7]:
                    states[-1] = goto[states[-2]][entry[1]]
                else:
                    reduce(entry)
        while True:
            action = actions[states[-1]].get("$END")
            if action is None or action[0]:
                raise _Reject
            entry = action[1]
            if entry[7]:
                states[-1] = goto[states[-2]][entry[1]]
            else:
                reduce(entry)
            if states[-1] == final:
                return stack[-1][0]
