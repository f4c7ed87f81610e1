"""Authentication shared by every interface: the bearer token of programs and the browser session.

``bearer``: DRF authentication (REST API, JSON-RPC and its SSE streams) and ``user_for_token``;
``websocket``: the ASGI middleware that authenticates websocket handshakes. The interfaces (``api``,
``live``) import from here and never from each other; this package imports only services
(``services.tokens``) and third-party libraries.
"""
