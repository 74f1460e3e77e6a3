"""experiments/protocol.py: strict JSON events, flagged non-finite numbers, checked tables."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import EXPERIMENTS, require_tensorflow

sys.path.insert(0, str(EXPERIMENTS))
import protocol  # noqa: E402


def strict_loads(line: str) -> dict:
    """Parse one event, refusing the NaN/Infinity tokens that plain ``json`` would accept."""
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(line, parse_constant=refuse)


def test_nan_becomes_null_and_its_path_is_listed():
    line = protocol.encode_event("progress", step=1, total=2,
                                 metrics={"loss": float("nan"), "mae": 0.5})
    event = strict_loads(line)
    assert event == {"event": "progress", "step": 1, "total": 2,
                     "metrics": {"loss": None, "mae": 0.5}, "nonfinite": ["metrics.loss"]}


def test_infinities_nested_in_tables_are_flagged_with_list_indices():
    table = protocol.table("t", ["a", "b"], [[1, 2.0], ["x", float("-inf")]])
    event = strict_loads(protocol.encode_event("result", metrics={"top": float("inf")},
                                               tables=[table]))
    assert event["tables"][0]["rows"] == [[1, 2.0], ["x", None]]
    assert event["metrics"] == {"top": None}
    assert sorted(event["nonfinite"]) == ["metrics.top", "tables.0.rows.1.1"]


def test_finite_events_have_no_nonfinite_key_and_are_one_line():
    line = protocol.encode_event("result", metrics={"mae": 0.25}, note="two\nlines")
    assert "\n" not in line
    assert "nonfinite" not in strict_loads(line)


def test_numpy_scalars_become_plain_json_numbers():
    event = strict_loads(protocol.encode_event(
        "result", metrics={"f32": np.float32(0.5), "i64": np.int64(3), "flag": np.bool_(True),
                           "nan64": np.float64("nan"), "zero_d": np.array(2.5)}))
    assert event["metrics"] == {"f32": 0.5, "i64": 3, "flag": True, "nan64": None,
                                "zero_d": 2.5}
    assert event["nonfinite"] == ["metrics.nan64"]


def test_values_json_cannot_represent_raise_type_error():
    with pytest.raises(TypeError):
        protocol.encode_event("result", metrics={"model": object()})
    with pytest.raises(TypeError):  # an array of several numbers is not a scalar
        protocol.encode_event("result", metrics={"mae": np.array([1.0, 2.0])})


def test_table_rejects_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match="has 1 cells, expected 2"):
        protocol.table("shapes", ["layer", "output"], [["LSTM", "(4, 16)"], ["GRU"]])


def test_emit_writes_one_flushed_line(capsys):
    protocol.progress(2, 5, {"loss": np.float32(0.125)})
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    assert strict_loads(out) == {"event": "progress", "step": 2, "total": 5,
                                 "metrics": {"loss": 0.125}}


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6))
nested = st.recursive(numbers, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), children, max_size=4)),
    max_leaves=20)


def count_nonfinite(value) -> int:
    if isinstance(value, dict):
        return sum(count_nonfinite(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_nonfinite(v) for v in value)
    return int(isinstance(value, float) and not math.isfinite(value))


@given(nested)
def test_any_nesting_of_numbers_encodes_to_strict_json(value):
    event = strict_loads(protocol.encode_event("result", metrics={"value": value}))
    flagged = event.get("nonfinite", [])
    assert len(flagged) == count_nonfinite(value)
    for path in flagged:  # each listed path leads to a null
        node = event
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node is None


def test_result_metrics_must_be_numbers(capsys):
    protocol.result({"accuracy": 0.5, "converged": True, "epochs": 3})
    event = json.loads(capsys.readouterr().out)
    assert event["metrics"] == {"accuracy": 0.5, "converged": 1, "epochs": 3}
    with pytest.raises(TypeError, match="'device'"):
        protocol.result({"device": "GPU"})


def test_details_table_keeps_numbers_and_writes_the_rest_as_text():
    details = protocol.details(unit="°C", best_model="seq2vec", epochs=3)
    assert details["rows"] == [["unit", "°C"], ["best_model", "seq2vec"], ["epochs", 3]]


def test_epoch_timer_leaves_out_the_first_epoch_which_also_compiles():
    require_tensorflow()
    timer = protocol.epoch_timer()
    timer.seconds.extend([5.0, 1.0, 3.0])
    assert timer.seconds_per_epoch == 2.0
    timer.seconds[:] = [4.0]
    assert timer.seconds_per_epoch == 4.0
