"""Types of the factory fixtures that build a real adapter or app and close it after the test."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from coda.llm import ChatModel

# host, then `Settings` fields to override (see tests/support/settings.make_settings)
ModelFactory = Callable[..., ChatModel]
AppFactory = Callable[..., Flask]
