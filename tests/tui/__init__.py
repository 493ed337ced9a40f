"""Tests of the Textual application."""
