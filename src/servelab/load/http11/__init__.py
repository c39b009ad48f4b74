"""HTTP/1.1 for the load engine: ``parse`` (sans-IO: bytes in, events out) and
``connection`` (a non-blocking socket that feeds its parser, driven by the reactor).

Import the module you need; this package imports nothing, so the parser comes without
sockets or the reactor.
"""
