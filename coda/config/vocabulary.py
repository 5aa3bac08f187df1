"""The words more than one part must spell alike: languages, kinds of turn, the export format, and
what the model is asked when an answer is continued. Each is written here once; the page gets
them as data (plain strings and tuples), never as a copy of its own.
"""

from __future__ import annotations

# The page's languages; the first is the default when nothing else decides.
LANGUAGES = ("ja", "en")

# What a posted turn asks for. new: a question; edit: the last question rewritten (sent as
# written, replacing the last turn); regenerate: the last question asked again; continue: the
# answer cut at the length limit, extended. The last three are the page's "ask again" buttons.
TURN_MODES = ("new", "edit", "regenerate", "continue")
ASK_AGAIN_MODES = TURN_MODES[1:]

# An exported conversation file names its format and version; import refuses any other.
EXPORT_FORMAT = "coda.conversation"
EXPORT_VERSION = 1

# What the model is asked (never shown) when the user wants the rest of an answer cut at the
# length limit: in the page's language, since a small model answers in the language it is asked.
CONTINUE_INSTRUCTION = {
    "ja": "前の回答が途中で切れました。繰り返さずに、切れたところから続きを書いてください。",
    "en": (
        "Your previous answer was cut off. Continue exactly where it stopped, without repeating it."
    ),
}
