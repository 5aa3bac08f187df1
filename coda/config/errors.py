"""Configuration errors, raised before the app serves anything."""

from __future__ import annotations


class SettingsError(ValueError):
    """Start-up stops here: every line names the variable and what it accepts."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))
