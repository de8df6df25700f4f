"""What order exports for a replay from its event store: the application class that stored its
events and the translator that makes them the public events on its topic."""

from services.order.application import OrderApplication
from services.order.translators import to_contract
from services.runtime.replay.producers import StoredEvents

STORED_EVENTS = StoredEvents("order", OrderApplication, to_contract)
