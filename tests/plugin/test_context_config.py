"""wtb.case(context=, config=) and @wtb.variant(context=, config=) as a user writes them: what nodes see,
what wtb_run shows, the execution identity they make, and mistakes as collection errors."""

from __future__ import annotations

import re

import pytest

GRAPH = '''
import collections
from dataclasses import dataclass
from typing import TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

import pytest_wtb as wtb

CALLS = collections.Counter()


@dataclass
class Ctx:
    model: str = "base-model"
    user: str = "nobody"


class State(TypedDict, total=False):
    q: str
    docs: list
    answer: str
    seen: dict


class Out(TypedDict):
    answer: str


def retrieve(state, runtime: Runtime[Ctx]):
    CALLS["retrieve"] += 1
    return {"docs": [f"{state['q']}-for-{runtime.context.user}"]}


def answer(state, config: RunnableConfig, runtime: Runtime[Ctx]):
    CALLS["answer"] += 1
    conf = config["configurable"]
    seen = {"style": conf.get("style"), "tone": conf.get("tone"), "limit": config.get("recursion_limit")}
    return {"answer": f"{runtime.context.model}:{state['docs'][0]}", "seen": seen}


def answer_loud(state, runtime: Runtime[Ctx]):
    CALLS["answer"] += 1
    return {"answer": f"{runtime.context.model}:{state['docs'][0]}".upper(), "seen": {}}


def build(answer_fn=answer):
    g = StateGraph(State, context_schema=Ctx, output_schema=Out)
    g.add_node("retrieve", retrieve)
    g.add_node("answer", answer_fn)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g
'''

# two variants that differ only in their context: "model A vs model B"
MODELS = GRAPH + '''
SHARED = {"configurable": {"style": "terse", "tone": "dry"}, "recursion_limit": 20}


@wtb.variant(baseline=True, context=Ctx(model="small", user="v-user"), config=SHARED)
def small():
    return build()


@wtb.variant(name="large", context=Ctx(model="large", user="v-user"), config=SHARED)
def large_model():
    return build()


@wtb.cases(
    [wtb.case({"q": "refund"}, context={"user": "u1"}, config={"configurable": {"style": "long"}, "recursion_limit": 8}),
     {"q": "plain"}],
    ids=["refund", "plain"],
)
def test_listed(wtb_run):
    model = wtb_run.variant
    if wtb_run.case_id == "refund":  # the case's fields and keys win, the variant's fill in the rest
        assert wtb_run.state["answer"] == f"{model}:refund-for-u1"
        assert wtb_run.state["seen"] == {"style": "long", "tone": "dry", "limit": 8}
        assert wtb_run.context == Ctx(model=model, user="u1")
        assert wtb_run.config == {"configurable": {"style": "long", "tone": "dry"}, "recursion_limit": 8}
    else:
        assert wtb_run.state["answer"] == f"{model}:plain-for-v-user"
        assert wtb_run.state["seen"] == {"style": "terse", "tone": "dry", "limit": 20}
        assert wtb_run.context == Ctx(model=model, user="v-user")
        assert wtb_run.config == SHARED
    # the output_schema view holds only Out's keys; state stays the full state
    assert wtb_run.output == {"answer": wtb_run.state["answer"]}
    assert set(wtb_run.state) == {"q", "docs", "answer", "seen"}
    print("RAN", wtb_run.variant, wtb_run.case_id, wtb_run.state["answer"], wtb_run.backend)


@wtb.parity(keys=["answer"])
@wtb.cases({"keyed": wtb.case({"q": "k"}, context={"user": "u9"})})
def test_models_differ(wtb_run):
    assert wtb_run.state["answer"] == f"{wtb_run.variant}:k-for-u9"
'''


def _ran(output: str) -> list[str]:
    return sorted(line.split("RAN ", 1)[1] for line in output.splitlines() if "RAN " in line)


def _check_models(result: pytest.RunResult, backend: str) -> None:
    result.assert_outcomes(passed=5, failed=1)
    assert _ran(result.stdout.str()) == sorted([
        f"large plain large:plain-for-v-user {backend}", f"large refund large:refund-for-u1 {backend}",
        f"small plain small:plain-for-v-user {backend}", f"small refund small:refund-for-u1 {backend}",
    ])
    # parity proves the two contexts made two executions with two results, not one shared one
    result.stdout.fnmatch_lines([
        "*parity: variant 'large' differs from baseline 'small' on case 'keyed' at 1 key path",
        "*  answer",
        "*small (baseline): 'small:k-for-u9'",
        "*large:            'large:k-for-u9'",
    ])
    assert "INTERNALERROR" not in result.stdout.str()


def test_context_and_config_merge_case_over_variant_and_reach_the_nodes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_models=MODELS)
    _check_models(pytester.runpytest("-rA", "-p", "no:cacheprovider"), "threads")


def test_the_same_outcomes_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_models=MODELS)
    _check_models(pytester.runpytest_subprocess("-rA", "-n", "2", "-p", "no:cacheprovider"), "threads")


def test_the_same_outcomes_on_ray(pytester: pytest.Pytester, ray_address: str) -> None:
    pytester.makepyfile(test_models=MODELS)
    result = pytester.runpytest_subprocess("-rA", "--wtb-backend=ray", "--wtb-ray-address=auto",
                                           "-p", "no:cacheprovider")
    _check_models(result, "ray")


IDENTITY = GRAPH + '''
@wtb.variant(baseline=True, context=Ctx(user="a"))
def base():
    return build()


loud = base.with_nodes({"answer": answer_loud}, name="loud")  # keeps base's context: shares its prefix


@wtb.variant(name="other", context=Ctx(user="b"))  # the same shape, another context: shares nothing
def other():
    return build(answer_fn=answer_loud)


@wtb.cases({"x": {"q": "x"}})
def test_variants(wtb_run):
    expected = {"base": "base-model:x-for-a", "loud": "BASE-MODEL:X-FOR-A", "other": "BASE-MODEL:X-FOR-B"}
    assert wtb_run.state["answer"] == expected[wtb_run.variant]


# the same case id and input in two tests, with different contexts: two executions, not one
@wtb.cases({"same": wtb.case({"q": "s"}, context={"user": "c1"})})
def test_first(wtb_run):
    assert wtb_run.state["docs"] == ["s-for-c1"]
    print("THREAD", wtb_run.variant, "c1", wtb_run.thread_id)


@wtb.cases({"same": wtb.case({"q": "s"}, context={"user": "c2"})})
def test_second(wtb_run):
    assert wtb_run.state["docs"] == ["s-for-c2"]
    print("THREAD", wtb_run.variant, "c2", wtb_run.thread_id)


@wtb.cases({"same": wtb.case({"q": "s"}, context={"user": "c2"})})
def test_third(wtb_run):  # the very same settings as test_second: one execution for both
    print("THREAD", wtb_run.variant, "c2", wtb_run.thread_id)


def test_zz_calls():
    print("CALLS", dict(sorted(CALLS.items())))
'''


def test_context_is_part_of_the_identity_and_prefixes_are_not_shared_across_contexts(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_identity=IDENTITY)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider", "--wtb-share-prefix-min-ms=0")
    result.assert_outcomes(passed=13)
    # case x: base and loud share one retrieve, other (context user=b) runs its own; case same: the case's
    # user overrides every variant's, so the merged contexts are equal and all three share, once per context
    result.stdout.fnmatch_lines(["*CALLS {'answer': 9, 'retrieve': 4}"])
    threads: dict[tuple[str, str], set[str]] = {}
    for variant, user, thread in re.findall(r"THREAD (\w+) (c\d) (\S+)", result.stdout.str()):
        threads.setdefault((variant, user), set()).add(thread)
    assert sorted(threads) == [(v, u) for v in ("base", "loud", "other") for u in ("c1", "c2")]
    assert all(len(t) == 1 for t in threads.values()), threads  # test_second and test_third share
    assert len(set().union(*threads.values())) == 6


CONFLICT = GRAPH + '''

@wtb.variant(baseline=True, context=Ctx(model="m"))
def base():
    return build()


class Other:
    def __repr__(self):
        return "Other()"


'''


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ("@wtb.cases({'x': wtb.case({'q': 'x'}, context={'modle': 'typo'})})",
         "*test_x: case 'x' with variant 'base': context {'model': 'm', 'user': 'nobody', 'modle': 'typo'} does not fit "
         "context_schema Ctx: *unexpected keyword argument 'modle'*"),
        ("@wtb.cases({'x': wtb.case({'q': 'x'}, context=Other())})",
         "*test_x: case 'x' with variant 'base': context Other() is a Other, but the graph's context_schema is Ctx"),
        ("@wtb.cases([wtb.case({'q': 'x'}, config={'configurable': {'thread_id': 't1'}})], ids=['x'])",
         "*test_x: case 'x': config= sets 'thread_id': pytest-wtb owns them (every execution runs under its own "
         "thread_id); remove them, and read wtb_run.thread_id instead"),
        ("@wtb.cases({'x': wtb.case({'q': 'x'}, config={'configurable': {'checkpoint_id': 'c'}})})",
         "*test_x: case 'x': config= sets 'checkpoint_id': pytest-wtb owns them*"),
        ("@wtb.cases({'x': wtb.case({'q': 'x'}, config={'callbacks': []})})",
         "*test_x: case 'x': config= has 'callbacks', which pytest-wtb does not pass on; allowed keys: "
         "configurable, max_concurrency, metadata, recursion_limit, run_name, tags"),
        ("@wtb.cases({'x': wtb.case({'q': 'x'}, resume='x')})",
         "*test_x: case 'x': resume= takes a list of values (one per pause), got str: wrap it in [[]...[]]"),
        ("@wtb.cases([wtb.case({'q': 'x'}, id='a')], ids=['b'])",
         "*test_x: input 0 of @wtb.cases is a wtb.case(id='a') but ids= names it 'b': give it one id"),
    ],
    ids=["unknown-field", "wrong-type", "thread-id", "checkpoint-id", "unknown-key", "resume-str", "id-clash"],
)
def test_bad_case_settings_are_collection_errors_naming_the_case(
    pytester: pytest.Pytester, declaration: str, expected: str
) -> None:
    pytester.makepyfile(test_bad=CONFLICT + declaration + "\ndef test_x(wtb_run):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting test_bad.py*", expected])
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_bad_variant_context_or_config_is_a_collection_error_naming_the_variant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ctx=GRAPH + "\nclass Other:\n    pass\n\n\n@wtb.variant(context=Other())\ndef base():\n"
        "    return build()\n\n\n@wtb.cases({'x': {'q': 'x'}})\ndef test_x(wtb_run):\n    pass\n",
        test_cfg=GRAPH + "\n@wtb.variant(config={'configurable': {'thread_id': 'mine'}})\ndef pinned():\n"
        "    return build()\n",
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*test_x: case 'x' with variant 'base': context <test_ctx.Other object at *> is "
                                 "a Other, but the graph's context_schema is Ctx"])
    result.stdout.fnmatch_lines(["*variant 'pinned': config= sets 'thread_id': pytest-wtb owns them*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_typed_dict_context_schema_takes_a_dict_context(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_typed=GRAPH.replace("@dataclass\nclass Ctx:", "class Ctx(TypedDict, total=False):")
                        .replace("runtime.context.user", "runtime.context['user']")
                        .replace("runtime.context.model", "runtime.context['model']") + '''
@wtb.variant(context={"model": "m"})
def base():
    return build()


@wtb.cases({"x": wtb.case({"q": "x"}, context={"user": "u"})})
def test_x(wtb_run):
    assert wtb_run.state["answer"] == "m:x-for-u"
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert "INTERNALERROR" not in result.stdout.str()
    result.assert_outcomes(passed=1)
