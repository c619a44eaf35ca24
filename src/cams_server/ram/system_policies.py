"""The system policies every account has, by name, as RAM defines them."""

from __future__ import annotations

from collections.abc import Mapping

from cams_server.ram.policy import Policy, parse_policy

__all__ = ["SYSTEM_POLICY_DOCUMENTS", "system_policies"]


def _allow(actions: str) -> str:
    return f'{{"Version":"1","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}'


SYSTEM_POLICY_DOCUMENTS: Mapping[str, str] = {
    "AdministratorAccess": _allow('"*"'),
    "AliyunCAMSFullAccess": _allow('"cams:*"'),
    # Read-only means the read verbs; it does not turn statistics on.
    "AliyunCAMSReadOnlyAccess": _allow('["cams:Get*","cams:List*","cams:Query*","cams:Describe*"]'),
    "AliyunSTSAssumeRoleAccess": _allow('"sts:AssumeRole"'),
}


def system_policies() -> dict[str, Policy]:
    return {
        name: parse_policy(doc, name=name, policy_type="System")
        for name, doc in SYSTEM_POLICY_DOCUMENTS.items()
    }
