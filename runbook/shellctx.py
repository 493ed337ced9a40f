"""A POSIX shell lexer that tells, for each placeholder in a command, the quoting it sits in.

It follows the token recognition rules of POSIX.1-2017 XCU 2.3 (and the bash extensions our
devices run: `$'…'`, `<<<`): quotes, backslash escapes, `$(…)` (recursively, as a script of
its own), `$((…))`, `${…}`, backquotes, comments (a `#` that starts a word) and here-documents
(their bodies start at the next newline and end at the delimiter line). Placeholders are
replaced by one marker character before lexing, so a value can never change what the lexer
sees: the context of every placeholder is decided by the template alone.

Contexts (`Context`): `word` (an unquoted word, alone or part of a larger word), and the refused
ones `single`, `double`, `ansi`, `heredoc`, `comment`, `backquote`, `param`, `arith`,
`dollar` (right after an unquoted `$`) and `escaped` (right after a backslash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Context = Literal["word", "single", "double", "ansi", "heredoc", "comment", "backquote",
                  "param", "arith", "dollar", "escaped"]
MARK = "\ue000"  # stands for one placeholder while lexing (a private-use character)
_OPERATORS = set(";&|()<>\n")
_BLANKS = set(" \t")


class ShellSyntaxError(ValueError):
    """The command cannot be lexed (an unterminated quote, substitution or here-document)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass
class _Lexer:
    text: str
    found: list[Context]

    def mark(self, context: Context) -> None:
        self.found.append(context)

    def marks_in(self, start: int, end: int, context: Context) -> None:
        for _ in range(self.text.count(MARK, start, end)):
            self.mark(context)

    # -- an unquoted script (the whole command, or the inside of `$( … )`) ----------------

    def script(self, i: int, closer: str | None) -> int:
        """Lex from `i` to the end (or to `closer`); return the index after the closer."""
        s, n = self.text, len(self.text)
        depth = 0  # plain parentheses (subshells, `case` patterns) inside a `$( … )`
        word_start = True
        pending: list[tuple[str, bool]] = []  # here-document delimiters waiting for a newline
        while i < n:
            c = s[i]
            if closer == ")" and c == ")" and depth == 0:
                if pending:
                    raise ShellSyntaxError("here-document not ended before `)`", i)
                return i + 1
            if c == "\n":
                i += 1
                if pending:
                    i = self.heredocs(i, pending)
                    pending = []
                word_start = True
                continue
            if c in _BLANKS:
                word_start = True
                i += 1
                continue
            if c == "#" and word_start:
                end = s.find("\n", i)
                end = n if end < 0 else end
                self.marks_in(i, end, "comment")
                i = end
                continue
            if s.startswith("<<<", i):  # bash here-string: the next word is an ordinary word
                word_start = True
                i += 3
                continue
            if s.startswith("<<", i):
                i, delim = self.heredoc_delimiter(i + 2)
                pending.append(delim)
                word_start = True
                continue
            if c in _OPERATORS:
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                word_start = True
                i += 1
                continue
            word_start = False
            i = self.word_char(i)
        if closer is not None:
            raise ShellSyntaxError("`$(` is never closed", n)
        if pending:
            raise ShellSyntaxError("a here-document has no body", n)
        return n

    def word_char(self, i: int) -> int:
        """Lex one element of an unquoted word at `i`; return the index after it."""
        s, n = self.text, len(self.text)
        c = s[i]
        if c == MARK:
            self.mark("word")
            return i + 1
        if c == "\\":
            if i + 1 < n and s[i + 1] == MARK:
                self.mark("escaped")
            return i + 2
        if c == "'":
            end = s.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated ' quote", i)
            self.marks_in(i, end, "single")
            return end + 1
        if c == '"':
            return self.double(i + 1)
        if c == "`":
            return self.backquote(i + 1)
        if c == "$":
            return self.dollar(i + 1)
        return i + 1

    def dollar(self, i: int) -> int:
        """After a `$` (quoted or not): a substitution, or a plain `$`."""
        s, n = self.text, len(self.text)
        if i < n and s[i] == MARK:
            self.mark("dollar")
            return i + 1
        if s.startswith("((", i):
            end = self.balanced(i + 2, "((", "))")
            self.marks_in(i, end, "arith")
            return end
        if s.startswith("(", i):
            return self.script(i + 1, ")")
        if s.startswith("{", i):
            end = self.balanced(i + 1, "{", "}")
            self.marks_in(i, end, "param")
            return end
        if s.startswith("'", i):  # bash ANSI-C quoting: backslash escapes inside
            j = i + 1
            while j < n and s[j] != "'":
                j += 2 if s[j] == "\\" else 1
            if j >= n:
                raise ShellSyntaxError("unterminated $' quote", i)
            self.marks_in(i, j, "ansi")
            return j + 1
        return i

    def balanced(self, i: int, opener: str, closer: str) -> int:
        """The index after the `closer` that balances an `opener` just before `i`."""
        s, depth = self.text, 1
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s.startswith(closer, i):
                depth -= 1
                i += len(closer)
                if depth == 0:
                    return i
                continue
            if s.startswith(opener, i):
                depth += 1
                i += len(opener)
                continue
            i += 1
        raise ShellSyntaxError(f"`{opener}` is never closed", len(s))

    def double(self, i: int) -> int:
        """Inside "…" from `i`; return the index after the closing quote."""
        s, n = self.text, len(self.text)
        while i < n:
            c = s[i]
            if c == '"':
                return i + 1
            if c == MARK:
                self.mark("double")
                i += 1
            elif c == "\\":
                if i + 1 < n and s[i + 1] == MARK:
                    self.mark("escaped")
                i += 2
            elif c == "`":
                i = self.backquote(i + 1)
            elif c == "$":
                i = self.dollar(i + 1)
            else:
                i += 1
        raise ShellSyntaxError('unterminated " quote', n)

    def backquote(self, i: int) -> int:
        """Inside `…` from `i` (its text is lexed again by the shell: nothing may go in)."""
        s, n = self.text, len(self.text)
        j = i
        while j < n and s[j] != "`":
            j += 2 if s[j] == "\\" else 1
        if j >= n:
            raise ShellSyntaxError("unterminated ` quote", i - 1)
        self.marks_in(i, j, "backquote")
        return j + 1

    # -- here-documents -------------------------------------------------------------------

    def heredoc_delimiter(self, i: int) -> tuple[int, tuple[str, bool]]:
        """Read `[-] WORD` after `<<`; return the index after it and (delimiter, strip tabs)."""
        s, n = self.text, len(self.text)
        strip = i < n and s[i] == "-"
        i += 1 if strip else 0
        while i < n and s[i] in _BLANKS:
            i += 1
        start, word = i, []
        while i < n and s[i] not in _BLANKS and s[i] not in _OPERATORS:
            c = s[i]
            if c == "\\" and i + 1 < n:
                word.append(s[i + 1])
                i += 2
            elif c in "'\"":
                end = s.find(c, i + 1)
                if end < 0:
                    raise ShellSyntaxError(f"unterminated {c} quote", i)
                word.append(s[i + 1:end])
                i = end + 1
            else:
                word.append(c)
                i += 1
        self.marks_in(start, i, "heredoc")
        if i == start:
            raise ShellSyntaxError("`<<` needs a delimiter word", start)
        return i, ("".join(word), strip)

    def heredocs(self, i: int, pending: list[tuple[str, bool]]) -> int:
        """Skip the bodies of `pending` here-documents starting at `i`; return where they end."""
        s, n = self.text, len(self.text)
        for delim, strip in pending:
            while True:
                if i >= n:
                    raise ShellSyntaxError(f"here-document is never ended by {delim!r}", n)
                end = s.find("\n", i)
                end = n if end < 0 else end
                line = s[i:end]
                self.marks_in(i, end, "heredoc")
                i = min(end + 1, n)
                if (line.lstrip("\t") if strip else line) == delim:
                    break
        return i


def contexts(text: str) -> list[Context]:
    """The context of each MARK in `text`, in order; raises ShellSyntaxError."""
    lexer = _Lexer(text, [])
    lexer.script(0, None)
    return lexer.found
