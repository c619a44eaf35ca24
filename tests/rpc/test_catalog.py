"""The operation catalog, read from Alibaba's API metadata format."""

from __future__ import annotations

from typing import Any

import pytest

from cams_server.rpc.catalog import (
    Catalog,
    DocumentedError,
    Operation,
    ParameterSpec,
    load_catalog,
    load_metadata,
    operations_from_metadata,
)
from cams_server.wire.errors import ServiceError

CAMS_METADATA = ("cams_server.cams", "cams-2020-06-06-metadata.json")
STS_METADATA = ("cams_server.sts", "sts-2015-04-01-metadata.json")
ROI = "EnableWhatsappROIMetric"
METRICS = ("GetChatappTemplateMetric", "GetChatappPhoneNumberMetric")

# The documented errors, as in the seed (EnableWhatsappROIMetric.txt, "Error codes").
SEED_ERRORS = {
    DocumentedError(
        400, "Product.Unsubscript", "You have not subscribed to the specified product."
    ),
    DocumentedError(400, "Ram.PermissionDeny", "You are not authorized to perform the operation."),
    DocumentedError(400, "System.LimitControl", "The system is under flow control."),
    DocumentedError(
        400, "Unknown.ResourceOwnerId", "The resource does not belong to the current user."
    ),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog({CAMS_METADATA: [ROI]})


@pytest.fixture(scope="module")
def roi(catalog: Catalog) -> Operation:
    return catalog.get(ROI)


def _param(op: Operation, name: str) -> ParameterSpec:
    (spec,) = [p for p in op.parameters if p.name == name]
    return spec


def test_roi_operation_identity(roi: Operation) -> None:
    assert roi.name == ROI
    assert roi.product == "cams"
    assert roi.version == "2020-06-06"
    assert roi.ram_action == "cams:EnableWhatsappROIMetric"
    assert roi.methods == frozenset({"GET", "POST"})
    assert roi.access_level == "get"


def test_roi_flow_limit_from_the_chinese_description(roi: Operation) -> None:
    assert "QPS限制为5次/秒" in roi.description
    assert roi.flow_limit == 5


def test_roi_parameters(roi: Operation) -> None:
    names = [p.name for p in roi.parameters]
    assert names[:2] == ["IsvCode", "CustSpaceId"]
    assert set(names) == {
        "IsvCode",
        "CustSpaceId",
        "OwnerId",
        "ResourceOwnerAccount",
        "ResourceOwnerId",
    }
    for name in ("IsvCode", "CustSpaceId", "ResourceOwnerAccount"):
        spec = _param(roi, name)
        assert spec.type == "string"
        assert spec.required is False
        assert spec.location == "query"
    for name in ("OwnerId", "ResourceOwnerId"):
        spec = _param(roi, name)
        assert (spec.type, spec.format, spec.required) == ("integer", "int64", False)
    assert _param(roi, "IsvCode").example == "skdi3kksloslikdkkdk"
    assert _param(roi, "CustSpaceId").example == "293483938849493"


def test_roi_documented_errors_match_the_seed(roi: Operation) -> None:
    assert set(roi.errors) == SEED_ERRORS
    assert len(roi.errors) == 4
    documented = roi.documented_error("System.LimitControl")
    assert documented is not None
    assert documented.message == "The system is under flow control."
    assert roi.documented_error("Throttling.User") is None
    with pytest.raises(LookupError, match=r"documents no error Throttling\.User"):
        roi.error("Throttling.User")


def test_operation_error_puts_the_documented_message_first(roi: Operation) -> None:
    error = roi.error("Ram.PermissionDeny", "alice has no Allow.", access_denied_detail={"a": 1})
    assert isinstance(error, ServiceError)
    assert error.code == "Ram.PermissionDeny"
    assert error.status == 400
    assert error.message == "You are not authorized to perform the operation. alice has no Allow."
    assert error.access_denied_detail == {"a": 1}
    assert roi.error("Product.Unsubscript").message == (
        "You have not subscribed to the specified product."
    )


def test_roi_response(roi: Operation) -> None:
    assert set(roi.response_fields) == {"RequestId", "Code", "Message", "AccessDeniedDetail"}
    assert roi.response_example is not None
    assert '"Code": "OK"' in roi.response_example


def test_metric_operations_have_flow_limit_50() -> None:
    ops = {op.name: op for op in operations_from_metadata(load_metadata(*CAMS_METADATA))}
    assert set(ops) == {ROI, *METRICS}
    for name in METRICS:
        assert ops[name].flow_limit == 50
        assert ops[name].ram_action == f"cams:{name}"
    assert ops[ROI].flow_limit == 5


def test_operations_from_metadata_subset() -> None:
    ops = operations_from_metadata(load_metadata(*CAMS_METADATA), [METRICS[0]])
    assert [op.name for op in ops] == [METRICS[0]]


def test_catalog_holds_only_implemented_operations(catalog: Catalog) -> None:
    assert ROI in catalog
    for name in METRICS:
        assert name not in catalog
    assert [op.name for op in catalog] == [ROI]
    with pytest.raises(KeyError):
        catalog.get(METRICS[0])


def test_catalog_across_products_is_sorted() -> None:
    catalog = load_catalog({CAMS_METADATA: [ROI, *METRICS], STS_METADATA: ["AssumeRole"]})
    assert [(op.product, op.name) for op in catalog] == [
        ("cams", "EnableWhatsappROIMetric"),
        ("cams", "GetChatappPhoneNumberMetric"),
        ("cams", "GetChatappTemplateMetric"),
        ("sts", "AssumeRole"),
    ]
    assert catalog.get("AssumeRole").ram_action == "sts:AssumeRole"


def test_catalog_refuses_duplicates() -> None:
    ops = operations_from_metadata(load_metadata(*CAMS_METADATA), [ROI])
    with pytest.raises(ValueError, match="declared twice"):
        Catalog(ops + ops)


# --------------------------------------------------------------------------------------
# resolve
# --------------------------------------------------------------------------------------


def test_resolve(catalog: Catalog, roi: Operation) -> None:
    assert catalog.resolve(ROI, "2020-06-06") is roi


@pytest.mark.parametrize("action", ["EnableWhatsAppROIMetric", "GetChatappTemplateMetric", ""])
def test_resolve_unknown_action(catalog: Catalog, action: str) -> None:
    with pytest.raises(ServiceError) as info:
        catalog.resolve(action, "2020-06-06")
    assert info.value.code == "InvalidAction.NotFound"
    assert info.value.status == 404
    assert info.value.message.startswith(
        "Specified api is not found, please check your url and method."
    )
    assert ROI in info.value.message  # says what the server does answer


@pytest.mark.parametrize("version", ["2015-04-01", "2020-06-07", ""])
def test_resolve_wrong_version(catalog: Catalog, version: str) -> None:
    with pytest.raises(ServiceError) as info:
        catalog.resolve(ROI, version)
    assert info.value.code == "InvalidVersion"
    assert info.value.status == 400
    assert info.value.message.startswith("Specified parameter Version is not valid.")
    assert "2020-06-06" in info.value.message


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def _invalid(spec: ParameterSpec, raw: str) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        spec.parse(raw)
    assert info.value.code == "InvalidParameter"
    assert info.value.status == 400
    assert info.value.message.startswith(f"Specified parameter {spec.name} is not valid.")
    return info.value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1000000000000001", 1000000000000001),
        ("0", 0),
        ("-1", -1),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
    ],
)
def test_int64_accepts(roi: Operation, raw: str, value: int) -> None:
    assert _param(roi, "OwnerId").parse(raw) == value


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "1.5",
        "1e3",
        "0x10",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "--1",
        "",
        "1_000",
        str(2**63),
        "9" * 21,
    ],
)
def test_int64_rejects(roi: Operation, raw: str) -> None:
    _invalid(_param(roi, "OwnerId"), raw)


@pytest.mark.parametrize("raw", ["\u0661\u0662\u0663", "\uff11\uff12\uff13"])
def test_int64_rejects_non_ascii_digits(roi: Operation, raw: str) -> None:
    # Arabic-Indic and full-width digits: int() would take them, the wire must not.
    _invalid(_param(roi, "OwnerId"), raw)


def test_string_length_limit(roi: Operation) -> None:
    spec = _param(roi, "IsvCode")
    assert spec.parse("x" * 4096) == "x" * 4096
    error = _invalid(spec, "x" * 4097)
    assert "4097" in error.message


@pytest.mark.parametrize("raw", ["a\x00b", "line\nbreak", "tab\there", "\r", "\x1f"])
def test_string_control_characters(roi: Operation, raw: str) -> None:
    _invalid(_param(roi, "CustSpaceId"), raw)


@pytest.mark.parametrize("raw", ["cams-acme-main", "空间 1", "a b*c~d+e/f", "😀"])
def test_string_accepts_printable_text(roi: Operation, raw: str) -> None:
    assert _param(roi, "CustSpaceId").parse(raw) == raw


def _synthetic(**api: Any) -> Operation:
    metadata = {
        "product": "Demo",
        "version": "2024-01-01",
        "apis": {"DoThing": {"parameters": api.pop("parameters", []), **api}},
    }
    (op,) = operations_from_metadata(metadata)
    return op


def _schema(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema}


def test_schema_constraints() -> None:
    op = _synthetic(
        parameters=[
            _schema("Mode", type="string", enum=["fast", "slow"]),
            _schema("Code", type="string", maxLength=4, pattern="[A-Z]+"),
            _schema("Flag", type="boolean"),
            _schema("Small", type="integer", format="int32"),
        ]
    )
    mode, code, flag, small = op.parameters
    assert mode.parse("fast") == "fast"
    _invalid(mode, "medium")
    assert code.parse("ABCD") == "ABCD"
    _invalid(code, "ABCDE")
    _invalid(code, "abc")
    assert flag.parse("TRUE") is True
    assert flag.parse("false") is False
    _invalid(flag, "1")
    assert small.parse(str(2**31 - 1)) == 2**31 - 1
    _invalid(small, str(2**31))


def test_parse_parameters_missing_required() -> None:
    op = _synthetic(
        parameters=[
            _schema("Name", type="string", required=True),
            _schema("Count", type="integer", format="int64"),
        ]
    )
    for raw in ({}, {"Name": ""}, {"Count": "3"}):
        with pytest.raises(ServiceError) as info:
            op.parse_parameters(raw)
        assert info.value.code == "MissingName"
        assert info.value.status == 400
        assert info.value.message == "Name is mandatory for this action."
    assert op.parse_parameters({"Name": "n", "Count": "3", "Unknown": "x"}) == {
        "Name": "n",
        "Count": 3,
    }


def test_parse_parameters_sts_assume_role_needs_role_arn() -> None:
    (assume_role,) = operations_from_metadata(load_metadata(*STS_METADATA), ["AssumeRole"])
    with pytest.raises(ServiceError) as info:
        assume_role.parse_parameters({"RoleSessionName": "ci"})
    assert info.value.code == "MissingRoleArn"


def test_parse_parameters_roi(roi: Operation) -> None:
    assert roi.parse_parameters({}) == {}
    assert roi.parse_parameters(
        {"CustSpaceId": "cams-acme-main", "OwnerId": "1000000000000001", "IsvCode": ""}
    ) == {"CustSpaceId": "cams-acme-main", "OwnerId": 1000000000000001}
    with pytest.raises(ServiceError) as info:
        roi.parse_parameters({"ResourceOwnerId": "me"})
    assert info.value.code == "InvalidParameter"


def test_explicit_flow_control_wins_over_the_description() -> None:
    op = _synthetic(description="本接口的单用户QPS限制为5次/秒。", flowControl={"limit": 7})
    assert op.flow_limit == 7


@pytest.mark.parametrize(
    ("description", "limit"),
    [
        ("本接口的单用户QPS限制为100次/秒。", 100),
        ("QPS限制为 3 次/秒", 3),
        ("No limit documented.", None),
        ("", None),
    ],
)
def test_flow_limit_sentence(description: str, limit: int | None) -> None:
    assert _synthetic(description=description).flow_limit == limit


def test_defaults_for_sparse_metadata() -> None:
    op = _synthetic()
    assert op.product == "demo"
    assert op.ram_action == "demo:DoThing"
    assert op.methods == frozenset({"GET", "POST"})
    assert op.parameters == ()
    assert op.errors == ()
    assert op.response_example is None


def test_the_overlay_adds_what_the_metadata_says_in_prose_only() -> None:
    """`<product>/metadata/*-overlay.json` completes Alibaba's schema; the handler then
    receives typed, defaulted, bounded values and checks nothing by hand."""
    ops = {op.name: op for op in operations_from_metadata(load_metadata(*CAMS_METADATA))}
    reads = ops["GetChatappTemplateMetric"]
    parsed = reads.parse_parameters({"Start": "1", "End": "2", "TemplateCode": "t"})
    assert parsed["Granularity"] == "DAILY"  # Alibaba's default, now applied
    assert parsed["TemplateType"] == "WHATSAPP"
    with pytest.raises(ServiceError, match="one of DAILY, HALF_HOUR"):
        reads.parse_parameters({"Start": "1", "End": "2", "TemplateCode": "t", "Granularity": "X"})
    with pytest.raises(ServiceError, match="out of range: it is 0 to 253402300799999"):
        reads.parse_parameters({"Start": str(2**63 - 1), "End": "2", "TemplateCode": "t"})
    (assume_role,) = operations_from_metadata(load_metadata(*STS_METADATA), ["AssumeRole"])
    defaults = assume_role.parse_parameters({"RoleArn": "a", "RoleSessionName": "s"})
    assert defaults["DurationSeconds"] == 3600
