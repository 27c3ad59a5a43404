"""Per-field statistics of the dataset summary, nested and mixed fields included."""

from __future__ import annotations

from datagems_core.output.summary import field_statistics


def test_field_statistics_describe_scalars_and_nested_values_as_json_text():
    rows = [
        {"n": i, "plan": "pro" if i % 3 else "free", "tags": ["a", "b"][: i % 3], "at": {"x": i}}
        for i in range(30)
    ]
    rows[0]["tags"] = None
    stats = {entry["field"]: entry for entry in field_statistics(rows)}
    assert stats["n"]["type"] == "integer" and (stats["n"]["min"], stats["n"]["max"]) == (0, 29)
    assert stats["plan"]["top"] == [("pro", 20), ("free", 10)]
    assert stats["tags"]["type"] == "string"
    assert stats["tags"]["filled"] == 29 / 30
    assert stats["tags"]["distinct"] == 3  # [], ["a"], ["a","b"] as JSON text
    assert ('["a","b"]', 10) in stats["tags"]["top"]
    assert stats["at"]["type"] == "string" and stats["at"]["distinct"] == 30


def test_field_statistics_of_a_mixed_scalar_column_still_count_every_value():
    rows = [{"v": 1}, {"v": "one"}, {"v": None}, {}]
    (entry,) = field_statistics(rows)
    assert entry["field"] == "v"
    assert entry["filled"] == 2 / 4
    assert entry["distinct"] == 2


def test_the_run_summary_says_what_the_job_cost_or_why_it_is_unknown():
    from datagems_core.billing.pricing import Price
    from datagems_core.inference.usage import TokenUsage
    from datagems_core.jobs.models import Job, Totals
    from datagems_core.output.summary import render_run_summary

    stamp = "2026-12-01T00:00:00.000Z"
    job = Job(
        id="job_1",
        owner="alice",
        title="People",
        total_records=2,
        created_at=stamp,
        updated_at=stamp,
        job_details_cid="x",
    )
    totals = Totals(total_ok=2, tokens=TokenUsage(prompt=1000, completion=500, total=1500))
    assert "Cost unknown (no price for its gateway)." in render_run_summary(job, totals)
    priced = job.model_copy(update={"price": Price(inputPerMTok=2.0, outputPerMTok=8.0)})
    assert "Cost $0.006 ($0.003 per accepted record)." in render_run_summary(priced, totals)
