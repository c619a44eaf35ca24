"""What each error code this server answers means, why it happens and how to fix it.

The reference page `/docs/errors` shows it, one entry per code with the code as its
anchor, and every error answer's `Recommend` links to its entry (`wire/encoding.py`
`recommend_path`): a local RequestId means nothing to Alibaba's troubleshooter. The
operations' documented messages come from the catalog; what is said here is ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["GUIDE", "SECTIONS", "ErrorGuide"]


@dataclass(frozen=True, slots=True)
class ErrorGuide:
    code: str  # "Missing" stands for every Missing<Parameter>
    status: str
    cause: str
    fix: str


_SIGNING = (
    ErrorGuide(
        "Missing",
        "400",
        "A required parameter was not sent: the code names it (MissingCustSpaceId, "
        "MissingVersion, MissingRoleArn; for a V1 signature also MissingAccessKeyId, "
        "MissingSignature, MissingSignatureNonce, MissingTimestamp).",
        "Send the parameter. The official SDKs send the signature's parameters themselves; "
        "an operation's required parameters are marked on its page.",
    ),
    ErrorGuide(
        "InvalidParameter",
        "400",
        "A value is not what the parameter takes: the wrong type, out of its range, not "
        "UTF-8, sent twice, or (for the metric reads) a Start and End more than 90 days "
        "apart or in the wrong order. InvalidParameter.<Name> codes name the parameter.",
        "The message names the parameter and the rule it broke; the operation's page "
        "lists each parameter's type, range and default.",
    ),
    ErrorGuide(
        "InvalidAction.NotFound",
        "404",
        "No operation answers what was asked: an unknown action, a path other than /, or "
        "an HTTP method other than GET and POST.",
        "Call / (RPC style) with GET or POST and one of the actions listed in the API "
        "reference, as the official SDKs do.",
    ),
    ErrorGuide(
        "InvalidVersion",
        "400",
        "The action exists, but not in the API version the call names.",
        "Use version 2020-06-06 for CAMS and 2015-04-01 for STS (the SDK packages of "
        "those versions set it).",
    ),
    ErrorGuide(
        "InvalidProtocol.NeedSsl",
        "400",
        "The operation answers over HTTPS only (STS, as upstream), and the call came over "
        "plain HTTP.",
        "Start the server with --tls self-signed (or your own certificate) and call it "
        "with protocol https, trusting $CAMS_HOME/tls/ca.pem.",
    ),
    ErrorGuide(
        "IncompleteSignature",
        "400",
        "The signature is incomplete or malformed: the Authorization header is not "
        "'ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...', SignedHeaders "
        "is not sorted lower-case names, an x-acs-* header was sent without being signed, "
        "x-acs-date or the nonce is missing, or the body does not match "
        "x-acs-content-sha256.",
        "Let the official SDK sign, and change nothing in the request after signing; a "
        "signer of your own must sign every x-acs-* header it sends.",
    ),
    ErrorGuide(
        "SignatureDoesNotMatch",
        "400",
        "The signature is not the one the server computes with the AccessKey's secret: a "
        "wrong secret, or a request changed after it was signed (a proxy rewriting the "
        "path, query or signed headers).",
        "Check the AccessKey secret. The message holds the string the server signed: "
        "compare it with the one your client signed to see what differs.",
    ),
    ErrorGuide(
        "InvalidSignatureMethod",
        "400",
        "The signature algorithm is not one this gateway verifies.",
        "Sign V3 with ACS3-HMAC-SHA256, or V1 with SignatureMethod=HMAC-SHA1 and "
        "SignatureVersion=1.0.",
    ),
    ErrorGuide(
        "InvalidAccessKeyId.NotFound",
        "404",
        "No AccessKey with this id exists in the world the server holds.",
        "Use a key the world declares (cams-server world export lists them); a world "
        "change reaches a running server within half a second.",
    ),
    ErrorGuide(
        "InvalidAccessKeyId.Inactive",
        "400",
        "The AccessKey exists but is disabled (status Inactive).",
        "Use an active key, or set the key's status to Active in the world and apply it.",
    ),
    ErrorGuide(
        "InvalidSecurityToken.Expired",
        "400",
        "The STS credentials' token has expired (DurationSeconds after AssumeRole).",
        "Assume the role again; the credentials provider of the SDK refreshes them for you.",
    ),
    ErrorGuide(
        "InvalidSecurityToken.Malformed",
        "400",
        "The security token is not one this deployment issued, was altered, or its role "
        "has changed since.",
        "Send the SecurityToken exactly as AssumeRole returned it, with its STS. key.",
    ),
    ErrorGuide(
        "InvalidSecurityToken.Missing",
        "400",
        "An STS. AccessKey was used without its security token.",
        "Send the token (x-acs-security-token for V3, SecurityToken for V1) with every call.",
    ),
    ErrorGuide(
        "InvalidSecurityToken.MismatchWithAccessKey",
        "400",
        "The token belongs to other STS credentials than the AccessKey sent with it.",
        "Send the AccessKey id, secret and token of one AssumeRole answer together.",
    ),
    ErrorGuide(
        "InvalidTimeStamp.Format",
        "400",
        "The signed time (x-acs-date for V3, Timestamp for V1) is not UTC in the form "
        "YYYY-MM-DDThh:mm:ssZ.",
        "Send the time in that form, in UTC.",
    ),
    ErrorGuide(
        "InvalidTimeStamp.Expired",
        "400",
        "The signed time is more than 15 minutes from the server's clock, either way; or "
        "the call was signed before an in-memory server started (it cannot tell such a "
        "call from a replay).",
        "Synchronise the client's clock (NTP) and sign each call right before sending it.",
    ),
    ErrorGuide(
        "SignatureNonceUsed",
        "400",
        "This AccessKey already used this nonce within the last 15 minutes: a replayed "
        "request, or a client that reuses nonces.",
        "Give every request a fresh random nonce (the SDKs do). Retrying a failed call "
        "means signing it again.",
    ),
    ErrorGuide(
        "Throttling.User",
        "400",
        "Too many calls: the AccessKey or the account signed more calls in a minute than "
        "its nonce quota allows, or (STS) the operation's flow limit was reached.",
        "Wait the x-acs-retry-after milliseconds the answer gives, then retry; spread "
        "calls over more time.",
    ),
    ErrorGuide(
        "ServiceUnavailable",
        "503",
        "The server cannot answer this call now: its database or Redis cannot be reached "
        "or refused a write, or it holds its maximum of connections or request bodies. "
        "Nothing was done: no call is answered OK unless its effect is durable.",
        "Retry after a short wait. Operators: GET /_cams/ready says which dependency is down.",
    ),
    ErrorGuide(
        "InternalError",
        "500",
        "The server failed in a way it did not expect: a bug.",
        "Retry; and report it with the RequestId, which the server's log line carries.",
    ),
)

_HTTP = (
    ErrorGuide(
        "MalformedRequest",
        "400",
        "The bytes sent are not a well-formed HTTP/1.1 request.",
        "Send a well-formed request (an HTTP client or SDK does).",
    ),
    ErrorGuide(
        "InvalidParameter.BodyTooLarge",
        "413",
        "The body is larger than the route accepts (64 KiB for an API call).",
        "Send parameters in the query or a form body within the limit.",
    ),
    ErrorGuide(
        "InvalidParameter.IncompleteBody",
        "400",
        "The connection ended before the body its Content-Length announced.",
        "Send the whole body; nothing of a partial one is acted on.",
    ),
    ErrorGuide(
        "RequestHeaderFieldsTooLarge",
        "431",
        "The request line and headers exceed the server's limit (32 KiB or 100 lines by "
        "default, --max-header-bytes).",
        "Send a smaller head; an SDK's requests are far below the limit.",
    ),
    ErrorGuide(
        "RequestTimeout",
        "408",
        "The request's head or body did not arrive in time (10 s and 30 s by default).",
        "Send each request without pausing; the connection is closed after this answer.",
    ),
    ErrorGuide(
        "TooManyRequests",
        "429",
        "More than 8 requests were sent ahead of their answers on one connection.",
        "Wait for each answer, or open more connections.",
    ),
)

_OPERATIONS = (
    ErrorGuide(
        "Product.Unsubscript",
        "400",
        "The account has not opened CAMS (cams = false in the world).",
        "Open the product for the account: cams = true in the world file, then apply it.",
    ),
    ErrorGuide(
        "Ram.PermissionDeny",
        "400",
        "RAM refused the call: no policy of the caller allows the action on the "
        "resource, or one denies it (AccessDeniedDetail says which), or an ISV code was "
        "missing or wrong for an ISV sub-customer's space.",
        "Attach a policy that allows the action (AliyunCAMSFullAccess, or a custom one); "
        "the operator decodes EncodedDiagnosticMessage with cams-server ram "
        "decode-diagnostic.",
    ),
    ErrorGuide(
        "System.LimitControl",
        "400",
        "The account made more calls of this operation in the last second than its flow "
        "limit (5 a second for the CAMS operations).",
        "Wait the x-acs-retry-after milliseconds, then retry.",
    ),
    ErrorGuide(
        "Unknown.ResourceOwnerId",
        "400",
        "The space (CustSpaceId), or an owner parameter, belongs to another account or "
        "does not exist.",
        "Name a space of the calling account (cams-server world export lists them).",
    ),
    ErrorGuide(
        "RoiMetric.NotEnabled",
        "400",
        "ROI statistics were never enabled for this space (nor account-wide): there is "
        "nothing to read.",
        "Call EnableWhatsappROIMetric for the space first; statistics count from then on.",
    ),
    ErrorGuide(
        "EntityNotExist.Role",
        "404",
        "The role RoleArn names does not exist in that account.",
        "Use the ARN of a declared role: acs:ram::<account>:role/<name>.",
    ),
    ErrorGuide(
        "NoPermission",
        "403",
        "The caller may not assume the role: it lacks sts:AssumeRole "
        "(AliyunSTSAssumeRoleAccess) on it, the role's trust policy does not name it, or "
        "it is an account's own AccessKey (root keys cannot call AssumeRole).",
        "Call as a RAM user or role with AliyunSTSAssumeRoleAccess, named by the role's "
        "trust policy.",
    ),
)

_ADMIN = (
    ErrorGuide(
        "Admin.Disabled",
        "403",
        "The admin API is off: the server was started without an admin token.",
        "Start the server with CAMS_ADMIN_TOKEN set.",
    ),
    ErrorGuide(
        "Admin.InvalidToken",
        "401",
        "The admin call carried no token, or the wrong one.",
        "Send Authorization: Bearer $CAMS_ADMIN_TOKEN.",
    ),
    ErrorGuide(
        "Webhook.InvalidSignature",
        "401",
        "A webhook delivery's X-Hub-Signature-256 is missing or not the app secret's.",
        "Configure the webhook with the same app secret as CAMS_WHATSAPP_APP_SECRET.",
    ),
    ErrorGuide(
        "Webhook.VerificationFailed",
        "403",
        "The verification handshake's hub.verify_token is not the server's.",
        "Give Meta the token set as CAMS_WHATSAPP_VERIFY_TOKEN.",
    ),
    ErrorGuide(
        "Webhook.NotConfigured",
        "503",
        "The webhook is off: no app secret (or verify token) is set.",
        "Set CAMS_WHATSAPP_APP_SECRET and CAMS_WHATSAPP_VERIFY_TOKEN.",
    ),
    ErrorGuide(
        "Webhook.InvalidPayload",
        "400",
        "A delivery is not a WhatsApp Cloud API payload the server can read.",
        "Send the payload as Meta sends it; the message gives the path of the problem.",
    ),
)

SECTIONS: tuple[tuple[str, tuple[ErrorGuide, ...]], ...] = (
    ("Signature, credentials and request form (every operation)", _SIGNING),
    ("HTTP", _HTTP),
    ("Operations", _OPERATIONS),
    ("Admin API and webhook", _ADMIN),
)
GUIDE: Mapping[str, ErrorGuide] = {g.code: g for _, group in SECTIONS for g in group}
