from __future__ import annotations

import pytest

import pytest_wtb as wtb
from pytest_wtb.declare.parity import PARITY_ATTR
from pytest_wtb.declare.variants import CASES_ATTR, Case, check_variant_set, variants_in
from pytest_wtb.errors import DeclarationError
from pytest_wtb.plan.executions import ExecutionRequest, execution_key, make_plan, thread_id_for


def factory() -> str:
    return "graph"


def test_variant_bare_and_named() -> None:
    bare = wtb.variant(factory)
    named = wtb.variant(name="other", baseline=True)(factory)
    assert (bare.name, bare.baseline) == ("factory", False)
    assert (named.name, named.baseline) == ("other", True)
    assert bare() == "graph"


def test_with_nodes_keeps_the_factory_and_records_the_base() -> None:
    base = wtb.variant(baseline=True)(factory)
    node_variant = base.with_nodes({"answer": len}, name="short")
    assert node_variant.factory is base.factory
    assert node_variant.node_overrides == {"answer": len}
    assert node_variant.base_name == "factory" and not node_variant.baseline
    with pytest.raises(DeclarationError, match="not a function or a Runnable"):
        base.with_nodes({"answer": 3}, name="bad")  # type: ignore[dict-item]
    with pytest.raises(DeclarationError, match="not usable in a test id"):
        base.with_nodes({"answer": len}, name="has space")


def test_cases_from_list_dict_and_mistakes() -> None:
    def t() -> None: ...

    wtb.cases([{"q": 1}, {"q": 2}])(t)
    assert [c.id for c in getattr(t, CASES_ATTR).cases] == ["case0", "case1"]
    wtb.cases({"a": 1, "b": 2})(t)
    assert getattr(t, CASES_ATTR).cases == (Case("a", 1), Case("b", 2))
    assert wtb.cases([1, 2], ids=["x"])(t) and getattr(t, CASES_ATTR).error == "@wtb.cases got 2 inputs but 1 ids"
    wtb.cases([1, 2], ids=["x", "x"])(t)
    assert "appears twice" in getattr(t, CASES_ATTR).error
    wtb.cases([])(t)
    assert getattr(t, CASES_ATTR).error == "@wtb.cases got no inputs"


def test_parity_spec_and_validation() -> None:
    def t() -> None: ...

    wtb.parity(keys=["answer"], rel_tol=1e-3)(t)
    spec = getattr(t, PARITY_ATTR)
    assert (spec.keys, spec.rel_tol, spec.abs_tol) == (("answer",), 1e-3, 0.0)
    with pytest.raises(DeclarationError, match="list of state keys"):
        wtb.parity(keys="answer")
    with pytest.raises(DeclarationError, match=">= 0"):
        wtb.parity(rel_tol=-1)


def test_variant_discovery_dedupes_aliases_and_checks_names_and_baselines() -> None:
    a = wtb.variant(baseline=True)(factory)
    b = wtb.variant(name="b")(factory)
    assert variants_in({"a": a, "alias": a, "b": b, "x": 1}) == [a, b]
    assert check_variant_set([a, b]) is a
    with pytest.raises(DeclarationError, match="two different variants are named 'b'"):
        check_variant_set([b, wtb.variant(name="b")(factory)])
    with pytest.raises(DeclarationError, match="more than one baseline"):
        check_variant_set([a, wtb.variant(name="c", baseline=True)(factory)])


def test_plan_dedupes_in_order_of_first_need_with_stable_unique_thread_ids() -> None:
    v, w = wtb.variant(name="v")(factory), wtb.variant(name="w")(factory)
    c1, c2 = Case("c1", {"q": 1}), Case("c2", {"q": 2})
    reqs = [ExecutionRequest("m", w, c1), ExecutionRequest("m", v, c1), ExecutionRequest("m", w, c1),
            ExecutionRequest("m", v, c2), ExecutionRequest("other_module", v, c2)]
    plan = make_plan("run1", reqs, timeout_s=3)
    assert [(s.scope, s.variant_name, s.case_id) for s in plan.specs] == [
        ("m", "w", "c1"), ("m", "v", "c1"), ("m", "v", "c2"), ("other_module", "v", "c2")]
    assert len({s.thread_id for s in plan.specs}) == 4
    assert all(s.thread_id.startswith("wtb-run1-") and s.timeout_s == 3 for s in plan.specs)
    # stable across processes (xdist workers must agree), sensitive to the input
    assert execution_key("m", "v", c1) == execution_key("m", "v", Case("c1", {"q": 1}))
    assert execution_key("m", "v", c1) != execution_key("m", "v", Case("c1", {"q": 9}))
    assert thread_id_for("r", "a b/c", "x:y", "0123456789") == "wtb-r-a_b_c-x_y-012345"
