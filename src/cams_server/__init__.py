"""cams-server: a wire-compatible Alibaba Cloud CAMS (2020-06-06) ROI-metric API server.

The public Python surface is deliberately small; everything else is internal and may
change. The wire, the CLI, the world file and `cams_server.testing` are the contract.
"""

from cams_server.clock import Clock, ManualClock, SystemClock
from cams_server.server import build_app
from cams_server.settings import ServerSettings
from cams_server.wire.errors import ServiceError

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ManualClock",
    "ServerSettings",
    "ServiceError",
    "SystemClock",
    "__version__",
    "build_app",
]
