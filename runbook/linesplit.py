"""Output chunks into lines: whole lines decoded in one go, an endless line passed on in pieces."""

from __future__ import annotations

from collections.abc import Callable

LINE_PIECE = 64 * 1024
OnLines = Callable[[str, list[str]], None]


class Splitter:
    """Turns chunks into lines, passed on a chunk's worth at a time; a line over 64 KiB is
    passed on in pieces. Lines split on b"\n" before decoding: in UTF-8 that byte never sits
    inside a character, so each chunk's complete lines are decoded in one go."""

    def __init__(self, stream: str, on_lines: OnLines) -> None:
        self.stream, self.on_lines, self.buf = stream, on_lines, b""

    def feed(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.rfind(b"\n")
        lines: list[str] = []
        if end >= 0:
            block, buf = buf[:end], buf[end + 1:]
            parts = block.split(b"\n")
            if max(map(len, parts)) <= LINE_PIECE:
                lines = block.decode("utf-8", "replace").split("\n")
                if b"\r" in block:
                    lines = [line.rstrip("\r") for line in lines]
            else:
                lines = [_text(piece) for part in parts for piece in _pieces(part)]
        while len(buf) >= LINE_PIECE:  # a line still without its end: pass on what we have
            lines.append(_text(buf[:LINE_PIECE]))
            buf = buf[LINE_PIECE:]
        self.buf = buf
        if lines:
            self.on_lines(self.stream, lines)

    def close(self) -> None:
        if self.buf:
            self.on_lines(self.stream, [_text(self.buf)])
            self.buf = b""


def _pieces(part: bytes) -> list[bytes]:
    if len(part) <= LINE_PIECE:
        return [part]
    return [part[i:i + LINE_PIECE] for i in range(0, len(part), LINE_PIECE)]


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", "replace")
