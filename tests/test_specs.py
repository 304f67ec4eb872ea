"""The configuration parser: what is stored reads back identically; garbage never crashes it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from programs.specs import (
    FULFILMENT_FOR_KIND,
    MONEY_KINDS,
    ProgramConfig,
    SpecError,
    config_from_stored,
    parse_config,
)

kinds = st.sampled_from(sorted(FULFILMENT_FOR_KIND))


@st.composite
def reward(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(kinds)
    methods = sorted(m for m in FULFILMENT_FOR_KIND[kind] if m != "code_pool")
    spec: dict[str, Any] = {"kind": kind, "fulfilment": draw(st.sampled_from(methods))}
    if kind == "percent_discount":
        spec["percent"] = draw(st.integers(1, 100))
    elif kind in MONEY_KINDS:
        spec["amount"] = draw(st.integers(1, 10**9))
    elif kind == "points":
        spec["points"] = draw(st.integers(1, 10**6))
    if kind in {"free_product", "charity_donation"}:
        spec["label"] = draw(st.text("abc xyz", min_size=1, max_size=20).filter(str.strip))
    spec["expires_after_days"] = draw(st.none() | st.integers(1, 3650))
    return spec


@settings(max_examples=150, deadline=None)
@given(advocate=reward(), friend=reward(), hold=st.integers(0, 90))
def test_a_parsed_config_reads_back_identically(
    advocate: dict[str, Any], friend: dict[str, Any], hold: int
) -> None:
    config = parse_config(
        {"advocate_reward": advocate, "friend_reward": friend, "rules": {"hold_days": hold}},
        program_type="two_sided",
        currency="EUR",
        stripe_connected=True,
    )
    stored = config.to_dict()
    assert config_from_stored(stored, program_type="two_sided", currency="EUR") == config
    assert isinstance(config, ProgramConfig)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
config_keys = st.sampled_from(
    ["advocate_reward", "friend_reward", "tiers", "rules", "fraud", "variants", "kind", "percent"]
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(config_keys, json_values, max_size=5),
    program_type=st.sampled_from(["one_sided", "two_sided", "tiered"]),
)
def test_garbage_is_refused_with_named_fields_never_an_exception(
    data: dict[str, Any], program_type: str
) -> None:
    errors: dict[str, str] = {}
    try:
        parse_config(data, program_type=program_type, currency="EUR", stripe_connected=False)
    except SpecError as error:
        errors = error.errors
        assert errors  # a refusal must say why
    assert all(isinstance(path, str) and message for path, message in errors.items())
