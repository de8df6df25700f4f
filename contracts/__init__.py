"""Public integration contracts of Unitrail.

Everything another service, a channel connector, a 3PL adapter or an analyst may rely on lives here:
the envelope every integration event travels in, the events themselves (one module per producing
service), the messages that outside systems publish to us, and the topic registry. Services import
each other only through this package.
"""
