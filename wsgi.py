"""The one WSGI entry point: every port of OMS, dispatched on the port a request came in on.

gunicorn -c config/gunicorn.conf.py 'wsgi:create_app()'
"""

from oms.app import PortDispatcher, create_wsgi_app
from oms.config import Settings, configure_logging
from oms.telemetry.tracing import configure_tracing


def create_app() -> PortDispatcher:
    settings = Settings.from_env()
    configure_logging(settings)
    configure_tracing()
    return create_wsgi_app(settings)
