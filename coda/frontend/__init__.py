"""The web tier's chat: the blueprint, its partials and the strings people read."""

from coda.frontend.reading.posted_turn import ModelMenu
from coda.frontend.services import EXTENSION_KEY, Pacing, Services, services
from coda.frontend.streaming.draining import Draining
from coda.frontend.streaming.turn import TURN_RECORD_KEY
from coda.frontend.views import blueprint

__all__ = [
    "EXTENSION_KEY",
    "TURN_RECORD_KEY",
    "Draining",
    "ModelMenu",
    "Pacing",
    "Services",
    "blueprint",
    "services",
]
