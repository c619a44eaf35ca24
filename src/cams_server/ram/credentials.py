"""AccessKey resolution against the directory."""

from __future__ import annotations

from cams_server.gateway import errors
from cams_server.ram.directory import Directory, KeyRecord

__all__ = ["DirectoryCredentials"]


class DirectoryCredentials:
    """Long-term AccessKeys of accounts and RAM users.

    STS credentials (`STS.` keys with a security token) are a separate resolver;
    until one is configured a token is refused, never ignored.
    """

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def resolve(self, access_key_id: str, security_token: str | None) -> KeyRecord:
        if security_token:
            raise errors.invalid_security_token(
                "Malformed",
                "The security token was not issued by this server: STS tokens are accepted only "
                "from this server's own AssumeRole.",
            )
        record = self._directory.key(access_key_id)
        if record is None:
            raise errors.invalid_access_key_not_found(access_key_id)
        if not record.active:
            raise errors.invalid_access_key_inactive(access_key_id)
        return record
