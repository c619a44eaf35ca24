"""AccessKey resolution: long-term keys from the directory, `STS.` keys from their token.

A session is checked against its role as the directory holds it now: a deleted role, or
a max_session_duration lowered below the session's length, ends it.
"""

from __future__ import annotations

from cams_server.clock import Clock
from cams_server.ram.directory import Directory, KeyRecord
from cams_server.ram.policy import PolicyError, parse_policy
from cams_server.ram.principals import Principal, PrincipalKind
from cams_server.ram.sts_tokens import StsTokenCodec, TokenError, check_role
from cams_server.wire import errors
from cams_server.wire.signing import MAX_SKEW_SECONDS

__all__ = ["DirectoryCredentials"]


class DirectoryCredentials:
    def __init__(
        self, directory: Directory, sts: StsTokenCodec | None = None, clock: Clock | None = None
    ) -> None:
        self._directory = directory
        self._sts = sts
        self._clock = clock

    def resolve(self, access_key_id: str, security_token: str | None) -> KeyRecord:
        if StsTokenCodec.is_sts_key(access_key_id) and self._sts is not None:
            return self._session(access_key_id, security_token)
        if security_token:
            raise errors.invalid_security_token(
                "MismatchWithAccessKey",
                f"A security token was sent with the long-term AccessKey {access_key_id!r}: "
                "send a token only with the STS. AccessKeyId it was issued with.",
            )
        record = self._directory.key(access_key_id)
        if record is None:
            raise errors.invalid_access_key_not_found(access_key_id)
        if not record.active:
            raise errors.invalid_access_key_inactive(access_key_id)
        return record

    def _session(self, access_key_id: str, security_token: str | None) -> KeyRecord:
        assert self._sts is not None and self._clock is not None
        if not security_token:
            raise errors.invalid_security_token(
                "Missing",
                f"{access_key_id} is a temporary (STS) AccessKeyId: send its SecurityToken "
                "(x-acs-security-token header, or SecurityToken parameter) too.",
            )
        try:
            claims = self._sts.open(
                access_key_id, security_token, self._clock.now(), MAX_SKEW_SECONDS
            )
            role = self._directory.role(claims.account_id, claims.role_name)
            check_role(claims, None if role is None else role.max_session_duration)
        except TokenError as exc:
            raise errors.invalid_security_token(exc.kind, str(exc)) from None
        session_policy = None
        if claims.session_policy is not None:
            try:
                session_policy = parse_policy(
                    claims.session_policy, name="SessionPolicy", policy_type="Session"
                )
            except PolicyError:  # checked when issued; a token cannot carry a bad one
                raise errors.invalid_security_token("Malformed", "Bad session policy.") from None
        principal = Principal(
            claims.account_id, PrincipalKind.ASSUMED_ROLE, claims.role_name, claims.session_name
        )
        return KeyRecord(
            access_key_id,
            self._sts.secret_for(access_key_id),
            True,
            principal,
            session_policy,
            prepare=False,  # built for this call: its secret signs once
        )
