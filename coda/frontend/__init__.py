"""The web tier's chat: the blueprint, its partials and the strings people read."""

from coda.frontend.context import EXTENSION_KEY, Services
from coda.frontend.views import TURN_RECORD_KEY, blueprint

__all__ = ["EXTENSION_KEY", "TURN_RECORD_KEY", "Services", "blueprint"]
