"""The input contract of the service, one class of bad input at a time, on both real servers.

Every request is written byte by byte over a socket, so the tests control the headers and the
body exactly (a lying Content-Length, a chunked body, no Content-Type at all). Each answer the
app gives must be the documented status with a JSON error ``{"error": str, "field"?: str}``;
none may be a 5xx. A few requests never reach the app: the server's own HTTP parser answers
them (JSON too under the lab's gunicorn), and the tests say so where the two servers differ.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from servelab.servers import HOST, RunningServer, ServerSpec
from servelab.service import ServiceConfig
from servelab.service.openapi import openapi_document
from servelab.service.validation import BODY_FIELDS, MAX_AREA, MAX_FLOORS

from ..helpers import Reply, launch_service

MAX_BODY = 8192
CONFIG = ServiceConfig(workload="io", io_delay=0.0, n=100, max_n=20_000, max_body_bytes=MAX_BODY)
SERVERS = ("flask-dev", "gunicorn:w1")
JSON_TYPE = {"Content-Type": "application/json"}
TIMEOUT = 10.0


@pytest.fixture(scope="module", params=SERVERS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    run_dir = tmp_path_factory.mktemp(ServerSpec.parse(request.param).label)
    with launch_service(request.param, run_dir, CONFIG) as running:
        yield running


def send(server: RunningServer, raw: bytes) -> Reply:
    """Write ``raw`` as it is, read one response (``Connection: close`` ends it)."""
    method = raw.split(b" ", 1)[0].decode()
    with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return Reply(response.status, response.msg, response.read())


def request(
    server: RunningServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request; Content-Length is the body's unless ``headers`` give it or chunk it."""
    fields = {"Host": f"{HOST}:{server.port}", "Connection": "close", **(headers or {})}
    if "Content-Length" not in fields and "Transfer-Encoding" not in fields:
        fields["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return send(server, head.encode("latin-1") + b"\r\n" + body)


def predict(server: RunningServer, body: bytes, query: str = "", **headers: str) -> Reply:
    fields = {**JSON_TYPE, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return request(server, "POST", f"/predict{query}", body, fields)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def assert_error(reply: Reply, status: int, field: str | None = None) -> dict[str, Any]:
    """The reply is ``status`` with the documented JSON error body, naming ``field``."""
    assert reply.status == status, reply.body[:300]
    assert reply.headers.get_content_type() == "application/json"
    payload = reply.json()
    assert isinstance(payload, dict) and set(payload) <= {"error", "field"}
    assert isinstance(payload["error"], str) and payload["error"]
    assert b"Traceback" not in reply.body
    if field is not None:
        assert payload.get("field") == field, payload
    return payload


def _obj(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# (id, body, field named in the 400)
BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "body"),
    ("only whitespace", b" \r\n\t", "body"),
    ("broken JSON", b'{"area": 42', "body"),
    ("trailing garbage", b'{"area": 42} {}', "body"),
    ("not UTF-8", b'{"area": 42, "x": "\xff"}', "body"),
    ("UTF-16", '{"area": 42}'.encode("utf-16"), "body"),
    ("NaN", b'{"area": NaN}', "body"),
    ("Infinity", b'{"area": Infinity}', "body"),
    ("-Infinity", b'{"area": -Infinity}', "body"),
    ("5000-digit integer", b'{"area": 1' + b"0" * 4999 + b"}", "body"),
    ("5000-digit integer in an unknown field", b'{"area": 1, "x": ' + b"7" * 5000 + b"}", "body"),
    ("nested 4000 deep", b"[" * 4000 + b"]" * 4, "body"),
    ("an array", b"[42]", "body"),
    ("a string", b'"42"', "body"),
    ("a number", b"42", "body"),
    ("null", b"null", "body"),
    ("a key twice", b'{"area": 42, "area": 43}', "area"),
    ("an unknown field", _obj(area=42, rooms=2), "rooms"),
    ("a nested unknown field", _obj(area=42, extra={"area": 1}), "extra"),
    ("no area", b"{}", "area"),
    ("floor without area", _obj(floor=2), "area"),
    ("area a string", _obj(area="42"), "area"),
    ("area a boolean", _obj(area=True), "area"),
    ("area null", _obj(area=None), "area"),
    ("area an array", _obj(area=[42]), "area"),
    ("area an object", _obj(area={"m2": 42}), "area"),
    ("area overflowing to inf", b'{"area": 1e999}', "area"),
    ("area a 60-digit integer", b'{"area": 1' + b"0" * 59 + b"}", "area"),
    ("area zero", _obj(area=0), "area"),
    ("area negative", _obj(area=-5), "area"),
    ("area above the maximum", _obj(area=MAX_AREA + 0.5), "area"),
    ("floor a string", _obj(area=42, floor="3"), "floor"),
    ("floor a fraction", _obj(area=42, floor=2.5), "floor"),
    ("floor a float", _obj(area=42, floor=2.0), "floor"),
    ("floor null", _obj(area=42, floor=None), "floor"),
    ("floor a boolean", _obj(area=42, floor=True), "floor"),
    ("floor zero", _obj(area=42, floor=0), "floor"),
    ("floor above the maximum", _obj(area=42, floor=MAX_FLOORS + 1), "floor"),
    ("floors_count a word", _obj(area=42, floors_count="nine"), "floors_count"),
    ("floors_count zero", _obj(area=42, floors_count=0), "floors_count"),
    ("floor above floors_count", _obj(area=42, floor=10, floors_count=9), "floor"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_a_body_outside_the_contract_is_a_400_naming_the_field(
    server: RunningServer, body: bytes, field: str
) -> None:
    assert len(body) <= MAX_BODY
    assert_error(predict(server, body), 400, field)


GOOD_BODIES: list[tuple[str, bytes]] = [
    ("area only", _obj(area=42)),
    ("a fractional area", _obj(area=42.5)),
    ("the smallest area", _obj(area=1e-9)),
    ("the largest area", _obj(area=MAX_AREA)),
    ("area in exponent form", b'{"area": 4.2e1}'),
    ("all fields", _obj(area=42, floor=3, floors_count=9)),
    ("floor on the top floor", _obj(area=42, floor=MAX_FLOORS, floors_count=MAX_FLOORS)),
    ("floor only", _obj(area=42, floor=1)),
    ("whitespace around", b'\r\n {"area": 42}\n '),
]


@pytest.mark.parametrize("body", [c[1] for c in GOOD_BODIES], ids=[c[0] for c in GOOD_BODIES])
def test_a_body_inside_the_contract_gets_a_price(server: RunningServer, body: bytes) -> None:
    for query in ("", "?workload=model"):
        reply = predict(server, body, query)
        assert reply.status == 200, reply.body
        assert reply.headers.get_content_type() == "application/json"
        (price,) = reply.json().values()
        assert reply.json() == {"price": price} and type(price) is int and price >= 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"],
)
def test_json_is_accepted_with_or_without_a_utf8_charset(
    server: RunningServer, content_type: str
) -> None:
    assert predict(server, _obj(area=42), Content_Type=content_type).status == 200


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/merge-patch+json",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
    ],
)
def test_anything_but_json_in_utf8_is_a_415(
    server: RunningServer, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = request(server, "POST", "/predict", _obj(area=42), headers)
    assert_error(reply, 415, "Content-Type")


def test_a_compressed_body_is_a_415(server: RunningServer) -> None:
    assert_error(predict(server, _obj(area=42), Content_Encoding="gzip"), 415, "Content-Encoding")


def _padded(size: int) -> bytes:
    """A valid request padded with whitespace to exactly ``size`` bytes."""
    body = _obj(area=42)
    return body + b" " * (size - len(body))


def test_a_body_over_the_limit_is_a_413(server: RunningServer) -> None:
    payload = assert_error(predict(server, _padded(MAX_BODY + 1)), 413, "body")
    assert str(MAX_BODY) in payload["error"]
    assert predict(server, _padded(MAX_BODY)).status == 200


def test_a_content_length_over_the_limit_is_a_413_without_waiting_for_the_body(
    server: RunningServer,
) -> None:
    # The client claims a gigabyte and sends 12 bytes: the answer must not wait for the rest.
    reply = predict(server, _obj(area=42), Content_Length=str(10**9))
    assert_error(reply, 413, "body")


def test_a_chunked_body_over_the_limit_is_a_413_not_cut_short(server: RunningServer) -> None:
    # Werkzeug stops reading a chunked body at the limit and returns the prefix; a valid
    # object padded past the limit must still be refused, not priced.
    body = _padded(MAX_BODY + 1)
    reply = predict(server, chunked(body[:100], body[100:]), Transfer_Encoding="chunked")
    assert_error(reply, 413, "body")
    exact = _padded(MAX_BODY)
    assert predict(server, chunked(exact[:7], exact[7:]), Transfer_Encoding="chunked").status == 200


def test_a_malformed_chunked_body_is_a_400(server: RunningServer) -> None:
    raw = b'zz\r\n{"area": 42}\r\n0\r\n\r\n'
    assert_error(predict(server, raw, Transfer_Encoding="chunked"), 400, "body")


def test_a_content_length_shorter_than_the_body_is_read_as_declared(
    server: RunningServer,
) -> None:
    # The app reads the 8 declared bytes, a broken object; what follows is not its business.
    reply = predict(server, _obj(area=42), Content_Length="8")
    assert_error(reply, 400, "body")


# (id, query, parameter named in the 400)
BAD_QUERIES: list[tuple[str, str, str]] = [
    ("n with a leading space", "?n=%2010", "n"),
    ("n with a space inside", "?n=1%200", "n"),
    ("n with a plus sign", "?n=%2B10", "n"),
    ("n with an underscore", "?n=1_000", "n"),
    ("n a superscript digit", "?n=%C2%B2", "n"),
    ("n a full-width digit", "?n=%EF%BC%91", "n"),
    ("n a fraction", "?n=1.5", "n"),
    ("n in exponent form", "?n=1e3", "n"),
    ("n zero", "?n=0", "n"),
    ("n negative", "?n=-1", "n"),
    ("n empty", "?n=", "n"),
    ("n above max_n", f"?n={CONFIG.max_n + 1}", "n"),
    ("n of 2000 digits", "?n=" + "9" * 2000, "n"),
    ("n given twice", "?n=1&n=2", "n"),
    ("workload given twice", "?workload=io&workload=cpu", "workload"),
    ("workload unknown", "?workload=gpu", "workload"),
    ("workload empty", "?workload=", "workload"),
    ("workload in capitals", "?workload=IO", "workload"),
    ("an unknown parameter", "?rooms=2", "rooms"),
]


@pytest.mark.parametrize(
    ("query", "field"), [c[1:] for c in BAD_QUERIES], ids=[c[0] for c in BAD_QUERIES]
)
def test_a_query_outside_the_contract_is_a_400_naming_the_parameter(
    server: RunningServer, query: str, field: str
) -> None:
    assert_error(predict(server, _obj(area=42), query), 400, field)


@pytest.mark.parametrize(
    "query", ["?n=20000&workload=cpu", "?n=007&workload=numpy", "?workload=io"]
)
def test_a_query_inside_the_contract_is_served(server: RunningServer, query: str) -> None:
    assert predict(server, _obj(area=42), query).status == 200


def test_an_n_too_long_for_int_is_a_400_naming_it(server: RunningServer) -> None:
    # 1500 digits: int() would raise a bare ValueError.
    assert_error(predict(server, _obj(area=42), "?n=" + "9" * 1500), 400, "n")


@pytest.mark.parametrize("target", ["/predict?n=", "/health?pad=", "/nowhere?pad="])
def test_a_query_string_over_2_kib_is_a_json_414_on_any_route(
    server: RunningServer, target: str
) -> None:
    # 6000 bytes: over gunicorn's default request-line limit (4094), which would answer with
    # its own HTML 414; the lab's gunicorn config raises it so that the service answers.
    method = "POST" if target.startswith("/predict") else "GET"
    body = _obj(area=42) if method == "POST" else b""
    reply = request(server, method, target + "9" * 6000, body)
    assert_error(reply, 414, "query")


def test_a_request_line_over_gunicorns_limit_is_still_a_json_414(server: RunningServer) -> None:
    # Past 8190 bytes gunicorn answers before the app; the lab's config makes that JSON too.
    assert_error(request(server, "GET", "/health?pad=" + "x" * 9000), 414)


def test_an_unknown_route_is_a_json_404(server: RunningServer) -> None:
    for target in ("/nowhere", "/predict/", "/predict/x", "/openapi.yaml"):
        assert_error(request(server, "GET", target), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/predict", {"POST", "OPTIONS"}),
        ("PUT", "/predict", {"POST", "OPTIONS"}),
        ("DELETE", "/predict", {"POST", "OPTIONS"}),
        ("TRACE", "/predict", {"POST", "OPTIONS"}),
        ("BREW", "/predict", {"POST", "OPTIONS"}),
        ("POST", "/health", {"GET", "HEAD", "OPTIONS"}),
        ("PATCH", "/openapi.json", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(
    server: RunningServer, method: str, path: str, allowed: set[str]
) -> None:
    reply = request(server, method, path, _obj(area=42), JSON_TYPE)
    assert_error(reply, 405)
    assert {m.strip() for m in reply.headers["Allow"].split(",")} == allowed


def test_head_and_options_behave(server: RunningServer) -> None:
    health = request(server, "HEAD", "/health")
    assert health.status == 200 and health.body == b""
    assert health.headers.get_content_type() == "application/json"
    head_predict = request(server, "HEAD", "/predict")
    assert head_predict.status == 405 and head_predict.body == b""
    assert "POST" in head_predict.headers["Allow"]
    options = request(server, "OPTIONS", "/predict")
    assert options.status == 200
    assert {m.strip() for m in options.headers["Allow"].split(",")} == {"POST", "OPTIONS"}


def test_the_home_page_form_still_gets_a_price(server: RunningServer) -> None:
    page = request(server, "GET", "/").body.decode()
    assert '"Content-Type": "application/json"' in page and 'fetch("predict"' in page
    # What the form's script sends: JSON.stringify of Number() values.
    reply = predict(server, b'{"area":42,"floor":3,"floors_count":9}')
    assert reply.status == 200 and set(reply.json()) == {"price"}


def test_the_served_document_is_the_apps_own(server: RunningServer) -> None:
    reply = request(server, "GET", "/openapi.json")
    assert reply.status == 200 and reply.headers.get_content_type() == "application/json"
    document = reply.json()
    assert document == json.loads(json.dumps(openapi_document(CONFIG)))
    n = next(p for p in document["paths"]["/predict"]["post"]["parameters"] if p["name"] == "n")
    assert n["schema"]["maximum"] == CONFIG.max_n and n["schema"]["default"] == CONFIG.n
    assert str(MAX_BODY) in document["paths"]["/predict"]["post"]["requestBody"]["description"]


def _resolve(document: dict[str, Any], node: Any) -> Iterator[str]:
    """Every $ref under ``node`` that does not point at something in ``document``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target: Any = document
            for part in ref.removeprefix("#/").split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            if target is None:
                yield ref
        for value in node.values():
            yield from _resolve(document, value)
    elif isinstance(node, list):
        for value in node:
            yield from _resolve(document, value)


@pytest.mark.parametrize(
    ("config", "statuses"),
    [
        (CONFIG, {"200", "400", "413", "414", "415", "500"}),
        (replace(CONFIG, token="s3cret-token"), {"200", "400", "401", "413", "414", "415", "500"}),
        (replace(CONFIG, memory_budget=2**20), {"200", "400", "413", "414", "415", "500", "503"}),
    ],
    ids=["plain", "token", "memory guard"],
)
def test_the_document_follows_the_settings(config: ServiceConfig, statuses: set[str]) -> None:
    # Read as a test reads JSON: what a key holds is what the assertions check.
    document: Any = openapi_document(config)
    assert document["openapi"].startswith("3.0.")
    assert not list(_resolve(document, document))
    predict_op = document["paths"]["/predict"]["post"]
    assert set(predict_op["responses"]) == statuses
    schemes = document["components"].get("securitySchemes", {})
    if config.token is None:
        assert "security" not in predict_op and not schemes
    else:
        assert schemes == {
            "bearerAuth": {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
        }
        assert predict_op["security"] == [{"bearerAuth": []}]
        assert config.token not in json.dumps(document)
        assert "WWW-Authenticate" in predict_op["responses"]["401"]["headers"]
    if config.memory_budget is not None:
        assert "Retry-After" in predict_op["responses"]["503"]["headers"]
    for path in ("/", "/health", "/metrics", "/openapi.json"):
        assert "security" not in document["paths"][path]["get"]


def test_the_documented_body_is_the_validated_body() -> None:
    document: Any = openapi_document(CONFIG)
    schema = document["components"]["schemas"]["PredictRequest"]
    assert tuple(schema["properties"]) == BODY_FIELDS
    assert schema["required"] == ["area"] and schema["additionalProperties"] is False
    area = schema["properties"]["area"]
    assert (area["minimum"], area["exclusiveMinimum"], area["maximum"]) == (0, True, MAX_AREA)
    for name in ("floor", "floors_count"):
        prop = schema["properties"][name]
        assert (prop["type"], prop["minimum"], prop["maximum"]) == ("integer", 1, MAX_FLOORS)
