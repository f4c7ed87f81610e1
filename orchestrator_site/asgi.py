"""ASGI entry point: HTTP -> Django, websockets -> tasks_app.live (origin-checked, authenticated)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from tasks_app.auth.websocket import TokenAuthMiddlewareStack  # noqa: E402
from tasks_app.live.origin import SameOriginValidator  # noqa: E402
from tasks_app.live.routing import websocket_urlpatterns  # noqa: E402
from tasks_app.perf import freeze_startup_heap  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(TokenAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
# full collections skip the startup heap (settings, URLs, models, libraries): see tasks_app.perf
freeze_startup_heap()
