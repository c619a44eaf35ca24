"""The system policies every account has, by name, as RAM defines them."""

from __future__ import annotations

from collections.abc import Mapping

from cams_server.ram.policy import Policy, parse_policy

__all__ = ["SYSTEM_POLICY_DOCUMENTS", "system_policies"]

SYSTEM_POLICY_DOCUMENTS: Mapping[str, str] = {
    "AdministratorAccess": '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    "AliyunCAMSFullAccess": '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*","Resource":"*"}]}',
    # Read-only means the read verbs; it does not turn statistics on.
    "AliyunCAMSReadOnlyAccess": (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":'
        '["cams:Get*","cams:List*","cams:Query*","cams:Describe*"],"Resource":"*"}]}'
    ),
    "AliyunSTSAssumeRoleAccess": '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}',
}


def system_policies() -> dict[str, Policy]:
    return {
        name: parse_policy(doc, name=name, policy_type="System")
        for name, doc in SYSTEM_POLICY_DOCUMENTS.items()
    }
