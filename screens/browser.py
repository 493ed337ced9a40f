"""Serve a runbook command to web browsers with textual-serve (each tab runs its own app)."""

from __future__ import annotations


def serve_command(command: str, *, host: str, port: int, title: str) -> None:
    """Serve COMMAND (a shell-quoted line) on HOST:PORT until interrupted."""
    from textual_serve.server import Server

    Server(command, host=host, port=port, title=title).serve()
