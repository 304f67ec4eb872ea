"""A standing fuzz of hostile text (issue 20): every API operation, enumerated from the project's
own OpenAPI document, and every public form, fed lone surrogates, NUL, bidirectional overrides,
100 kB strings and deeply nested JSON. Whatever the input: never a 5xx, and a refused request
(4xx) writes nothing — no row anywhere in the project's tables.

Bounded and deterministic for CI (derandomized, a few examples per operation): the file runs in
well under a minute. `tests/test_hostile_input.py` holds the named cases it generalises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from django.apps import apps
from django.test import Client
from hypothesis import strategies as st

from hosted.models import HostedSettings
from programs.models import Program
from referral_saas import tenancy
from tests.conftest import World, make_key
from tests.factories import make_program
from tracking import links, services

MAX_EXAMPLES = 8
OUR_APPS = {
    "accounts",
    "programs",
    "tracking",
    "rewards",
    "hosted",
    "webhooks",
    "billing",
    "analytics",
    "events",
}
FUZZ = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
    ],
)

# --- Hostile text ---------------------------------------------------------------------------

PIECES = [
    "\ud800",  # a lone high surrogate
    "\udfff",  # a lone low surrogate
    "\udc00\ud800",  # a pair in the wrong order
    "\x00",
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero-width space
    "\ufeff",  # byte-order mark
    "\uffff",  # a noncharacter
    "\U0010ffff",
    "e\u0301" * 40,  # combining marks
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "\r\nX-Injected: 1",
]
hostile_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), min_size=1, max_size=6).map(
        "".join
    ),
    st.sampled_from(["A" * 100_000, "\u202e" * 50_000, "x" * 99_999 + "\ud800"]),
)


def nested_json(depth: int) -> str:
    """Raw JSON nested `depth` deep (built as text: json.dumps itself would recurse)."""
    return "[" * depth + "]" * depth


hostile_value = st.one_of(
    hostile_text,
    st.lists(hostile_text, max_size=3),
    st.dictionaries(hostile_text, hostile_text, max_size=2),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([None, True, 1e308, -0.0]),
)


# --- The project's rows: a refused request must not add or remove any ----------------------


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS and not model._meta.proxy
    }


# --- The API, from its OpenAPI document -----------------------------------------------------


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str  # with {parameters}
    body_fields: tuple[str, ...]  # top-level properties of the JSON body, if any
    query_fields: tuple[str, ...]

    def __str__(self) -> str:
        return self.id


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def operations() -> list[Operation]:
    from django.core.wsgi import get_wsgi_application

    get_wsgi_application()  # the URLconf and apps, as the server has them
    from drf_spectacular.generators import SchemaGenerator

    document: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            fields: tuple[str, ...] = ()
            if body is not None:
                fields = tuple(_resolve(body["schema"], document).get("properties", {}))
            query = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
            found.append(Operation(operation["operationId"], method.upper(), path, fields, query))
    assert len(found) >= 30, [op.id for op in found]
    return found


OPERATIONS = operations()


@dataclass(frozen=True)
class Api:
    key: str
    path_ids: dict[str, str]
    bases: dict[str, dict[str, Any]]  # operation id -> a valid body to put the hostile value in


@pytest.fixture
def api(world: World) -> Api:
    program = make_program(world.acme)
    with tenancy.merchant_context(world.acme):
        advocate = services.advocate_enroll(program=program, email="maria@example.com").advocate
        conversion = services.conversion_record(
            order_id="ORD-1",
            amount=8900,
            currency="EUR",
            customer={"email": "luca@example.com"},
            code=advocate.code,
        ).conversion
        from rewards.models import Reward

        reward = Reward.objects.filter(conversion=conversion).first()
    key = make_key(world.acme)
    program_body = {
        "name": "Fuzz",
        "type": "one_sided",
        "currency": "EUR",
        "destination_url": "https://shop.example.com/",
        "allowed_domains": ["shop.example.com"],
        "advocate_reward": {"kind": "account_credit", "amount": 1000},
    }
    return Api(
        key=key.plaintext,
        path_ids={
            "program_id": program.public_id,
            "advocate_id": advocate.public_id,
            "conversion_id": conversion.public_id,
            "reward_id": reward.public_id if reward is not None else "rwd_none",
            "endpoint_id": "we_none",
            "payout_id": "po_none",
        },
        bases={
            "advocates_create": {"program": program.public_id, "email": "fuzz@example.com"},
            "clicks_create": {"code": advocate.code},
            "referrals_create": {"code": advocate.code, "email": "friend@example.com"},
            "conversions_create": {
                "order_id": "FUZZ-1",
                "amount": 100,
                "currency": "EUR",
                "customer": {"email": "buyer@example.com"},
            },
            "programs_create": program_body,
            "webhook_endpoints_create": {"url": "https://hooks.example.com/in"},
            "privacy_export": {"email": "nobody@example.com"},
            "privacy_erase": {"email": "nobody@example.com"},
        },
    )


def _path(operation: Operation, api: Api) -> str:
    path = operation.path
    for name, value in api.path_ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"teach the fuzz the path parameter of {operation.path}"
    return path


def _send(client: Client, operation: Operation, api: Api, path: str, body: str) -> Any:
    return client.generic(
        operation.method,
        path,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.key}",
    )


def _check(response: Any, before: dict[str, int], what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert row_counts() == before, (what, response.status_code, response.content[:300])


# The worst of the above, in every field of every operation (the fuzz below samples the rest).
SWEEP = ["\ud800", "a\x00b", "\u202egnp.exe", "A" * 100_000]


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_every_field_of_every_api_operation_survives_the_worst_text(
    client: Client, api: Api, operation: Operation
) -> None:
    path = _path(operation, api)
    for name in operation.query_fields:
        for value in SWEEP:
            before = row_counts()
            response = _send(client, operation, api, f"{path}?{name}={_raw(value)}", "")
            _check(response, before, f"{operation} ?{name}={value[:10]!r}")
    if operation.method in {"GET", "DELETE"}:
        return
    for name in operation.body_fields:
        for value in SWEEP:
            body = json.dumps({**api.bases.get(operation.id, {}), name: value})
            before = row_counts()
            response = _send(client, operation, api, path, body)
            _check(response, before, f"{operation} {name}={value[:10]!r}")


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
@FUZZ
@hypothesis.given(data=st.data())
def test_no_api_operation_fails_or_writes_on_hostile_input(
    client: Client, api: Api, operation: Operation, data: st.DataObject
) -> None:
    path = _path(operation, api)
    shape = data.draw(
        st.sampled_from(["field", "field", "field", "query", "nested", "raw"]), label="shape"
    )
    if shape == "query" or operation.method in {"GET", "DELETE"}:
        fields = [*operation.query_fields, "unknown"]
        name = data.draw(st.sampled_from(fields), label="parameter")
        value = data.draw(hostile_text, label="value")
        before = row_counts()
        response = _send(client, operation, api, f"{path}?{name}={_raw(value)}", "")
        _check(response, before, f"{operation} ?{name}")
        return
    base = dict(api.bases.get(operation.id, {}))
    if shape == "field":
        name = data.draw(st.sampled_from([*operation.body_fields, "unknown"]), label="field")
        base[name] = data.draw(hostile_value, label="value")
        body = json.dumps(base)  # escapes surrogates as \\udxxx, as an attacker sends them
    elif shape == "nested":
        name = data.draw(st.sampled_from([*operation.body_fields, "metadata"]), label="field")
        depth = data.draw(st.sampled_from([50, 2_000, 200_000]), label="depth")
        base[name] = None
        body = json.dumps(base).replace("null", nested_json(depth), 1)
    else:
        body = data.draw(
            st.one_of(
                hostile_text.map(json.dumps),
                st.sampled_from(["{", '{"a": "\\ud800', "\ufeff{}", nested_json(100_000)]),
            ),
            label="raw body",
        )
    before = row_counts()
    response = _send(client, operation, api, path, body)
    _check(response, before, f"{operation} {shape}")


# --- Public forms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    path: str
    data: dict[str, str]


@pytest.fixture
def forms(world: World) -> list[Form]:
    world.acme.privacy_policy_url = "https://acme.example.com/privacy"
    world.acme.save()
    program: Program = make_program(world.acme, slug="give-10")
    with tenancy.merchant_context(world.acme):
        HostedSettings.objects.update_or_create(
            program=program, defaults={"friend_email_capture": True, "friend_emails_enabled": True}
        )
        advocate = services.advocate_enroll(program=program, email="maria@example.com").advocate
    token = links.form_token(program)
    portal = links.portal_url(advocate).replace("http://127.0.0.1:8000", "")
    landing = "/p/acme/give-10/"
    return [
        Form(
            landing + "join",
            {
                "email": "new@example.com",
                "name": "N",
                "consent": "yes",
                "lang": "en",
                "token": token,
            },
        ),
        Form(landing + "link", {"email": "maria@example.com", "lang": "en", "token": token}),
        Form(f"/r/{advocate.code}/claim", {"email": "luca@example.com", "token": token}),
        Form(portal + "invite", {"emails": "luca@example.com", "token": token}),
        Form(portal + "new-link", {"email": "maria@example.com", "token": token}),
        Form("/consent", {"program": program.public_id, "choice": "granted", "next": "/"}),
        Form(f"/opt-out/{links.opt_out_token(world.acme.pk, 'luca@example.com')}", {}),
    ]


def _raw(text: str) -> str:
    # Raw bytes, as a script sends them: a surrogate arrives as its (invalid) UTF-8 encoding.
    return quote(text.encode("utf-8", "surrogatepass"))


def _form_body(data: dict[str, str]) -> str:
    return "&".join(f"{_raw(name)}={_raw(value)}" for name, value in data.items())


@FUZZ
@hypothesis.given(data=st.data())
def test_no_public_form_fails_or_writes_on_hostile_input(
    client: Client, forms: list[Form], data: st.DataObject
) -> None:
    from django.core.cache import cache

    cache.clear()  # the per-IP limits would otherwise answer 429 after a few examples
    for form in forms:
        fields = [*form.data, "unknown"]
        name = data.draw(st.sampled_from(fields), label=f"{form.path} field")
        value = data.draw(hostile_text, label=f"{form.path} value")
        body = _form_body({**form.data, name: value})
        before = row_counts()
        response = client.post(form.path, body, content_type="application/x-www-form-urlencoded")
        _check(response, before, f"{form.path} {name}")
        page = client.get(
            form.path.rsplit("/", 1)[0]
            + "/?"
            + f"lang={quote(value[:200].encode('utf-8', 'surrogatepass'))}"
        )
        assert page.status_code < 500, (form.path, "GET", page.status_code)
