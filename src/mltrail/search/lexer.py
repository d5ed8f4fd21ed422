"""Tokenizer for MLflow's filter and order-by strings.

Hand-written rather than built on ``sqlparse`` (which MLflow uses): it is a few
times faster, knows positions for error messages, and lexes exactly the small
language we accept instead of all of SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from mltrail.exceptions import MltrailException, invalid

# Token kinds.
WORD = "word"  # bare identifier or keyword: metrics.acc, tags.mlflow.runName, AND
BACKTICK = "backtick"  # `quoted key`
DQUOTE = "dquote"  # "double quoted": a key after `entity.`, a string value elsewhere
SQUOTE = "squote"  # 'single quoted string'
NUMBER = "number"
OP = "op"  # = != <> == < <= > >=
LPAREN, RPAREN, COMMA, EOF = "(", ")", ",", "end"

# Characters that end a bare word (besides whitespace).
_WORD_STOP = set("=!<>(),'\"`")
_NUMBER_START = set("0123456789+-.")


@dataclass(frozen=True)
class Token:
    """A lexeme: ``kind``, decoded ``text``, 0-based ``start``/``end`` offsets."""

    kind: str
    text: str
    start: int
    end: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind == WORD and self.text.upper() in words


def syntax_error(source: str, what: str, message: str, pos: int) -> MltrailException:
    """``Invalid <what> '<source>': <message> at position N`` plus a caret line.

    ``pos`` is 0-based; the message shows it 1-based, as people count.
    """
    one_line = source.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return invalid(
        f"Invalid {what} '{source}': {message} at position {pos + 1}\n  {one_line}\n  {' ' * pos}^"
    )


def tokenize(source: str, what: str = "filter") -> list[Token]:
    """Split ``source`` into tokens, ending with an ``EOF`` token."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"`":
            text, end = _quoted(source, i, what)
            kind = {"'": SQUOTE, '"': DQUOTE, "`": BACKTICK}[ch]
            tokens.append(Token(kind, text, i, end))
            i = end
        elif ch in "(),":
            tokens.append(Token(ch, ch, i, i + 1))
            i += 1
        elif ch in "=!<>":
            two = source[i : i + 2]
            if two in ("!=", "<>", "<=", ">=", "=="):
                tokens.append(Token(OP, {"<>": "!=", "==": "="}.get(two, two), i, i + 2))
                i += 2
            elif ch == "!":
                raise syntax_error(source, what, "expected '!=' after '!'", i)
            else:
                tokens.append(Token(OP, ch, i, i + 1))
                i += 1
        elif ch in _NUMBER_START and _looks_numeric(source, i):
            end = _number_end(source, i)
            tokens.append(Token(NUMBER, source[i:end], i, end))
            i = end
        else:
            end = i
            while end < n and not source[end].isspace() and source[end] not in _WORD_STOP:
                end += 1
            if end == i:  # a lone character no rule above accepts
                raise syntax_error(source, what, f"unexpected character {ch!r}", i)
            tokens.append(Token(WORD, source[i:end], i, end))
            i = end
    tokens.append(Token(EOF, "", n, n))
    return tokens


def _quoted(source: str, start: int, what: str) -> tuple[str, int]:
    """Decode a quoted run starting at ``start``; returns (text, end offset).

    The quote character is escaped by doubling it (SQL) or by a backslash.
    Other backslashes are kept verbatim so LIKE patterns can escape ``%``/``_``.
    """
    quote = source[start]
    out: list[str] = []
    i, n = start + 1, len(source)
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n:
            nxt = source[i + 1]
            out.append(nxt if nxt == quote else ch + nxt)
            i += 2
        elif ch == quote:
            if i + 1 < n and source[i + 1] == quote:
                out.append(quote)
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise syntax_error(source, what, f"unterminated {quote} quote opened", start)


def _looks_numeric(source: str, i: int) -> bool:
    """Whether a number starts at ``i`` (a sign or dot must be followed by a digit)."""
    j = i
    if source[j] in "+-":
        j += 1
    if j < len(source) and source[j] == ".":
        j += 1
    return j < len(source) and source[j].isdigit()


def _number_end(source: str, i: int) -> int:
    n = len(source)
    j = i + 1 if source[i] in "+-" else i
    while j < n and (source[j].isdigit() or source[j] == "."):
        j += 1
    if j < n and source[j] in "eE":
        k = j + 1
        if k < n and source[k] in "+-":
            k += 1
        if k < n and source[k].isdigit():
            j = k
            while j < n and source[j].isdigit():
                j += 1
    return j
