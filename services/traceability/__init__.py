"""The traceability service: where every serialized unit came from, who holds it now, and every
event of every service as an audit log, projected from the other services' events for analysts.
"""
