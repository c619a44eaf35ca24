"""STS as a product of this server: AssumeRole and GetCallerIdentity.

STS has no subscription, and its operations make their own RAM decisions (AssumeRole
is about the role, not the caller's account), so it registers no checks.
"""

from __future__ import annotations

from types import MappingProxyType

from cams_server.rpc.operations import Product
from cams_server.sts.operations import assume_role, get_caller_identity

__all__ = ["STS"]

STS = Product(
    package="cams_server.sts",
    metadata="sts-2015-04-01-metadata.json",
    handlers=MappingProxyType(
        {"AssumeRole": assume_role, "GetCallerIdentity": get_caller_identity}
    ),
)
