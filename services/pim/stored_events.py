"""What pim exports for a replay from its event store: the application class that stored its
events and the translator that makes them the public events on its topic."""

from services.pim.application import PimApplication
from services.pim.translators import to_contract
from services.runtime.replay.producers import StoredEvents

STORED_EVENTS = StoredEvents("pim", PimApplication, to_contract)
