"""dfrec.models.card: the status line and the cumulative history a model folder's metadata carries."""

from __future__ import annotations

from dfrec.models.card import SCORE_BRANCH, history_entry, runs_of_part, with_history, with_status


def test_status_clauses_append_and_replace():
    meta = {"status": "CPU run 22"}
    one = with_status(meta, "its fake score from a branch (100 forgeries)", replaces="its fake score from")
    assert one["status"] == "CPU run 22; its fake score from a branch (100 forgeries)"
    two = with_status(one, "its fake score from a branch (300 forgeries)", replaces="its fake score from")
    assert two["status"] == "CPU run 22; its fake score from a branch (300 forgeries)"  # said once, not twice
    assert with_status({}, "first")["status"] == "first"
    assert with_status({"status": "its fake score from x"}, "its fake score from y", replaces="its fake score from")[
        "status"] == "its fake score from y"
    assert meta == {"status": "CPU run 22"}  # the argument is left as it was


def test_history_entries_and_runs_of_a_part():
    meta = with_history({}, history_entry("composed", init_from="a"))
    meta = with_history(meta, history_entry("branch run", device="cpu (1 thread)", minutes=40.0, images=24720,
                                            steps=1545, part=SCORE_BRANCH))
    first, second = meta["history"]
    assert first["device"] == "-" and first["minutes"] == 0 and "part" not in first and first["date"]
    assert second["images"] == 24720 and second["validation"] is None
    assert runs_of_part(meta, SCORE_BRANCH) == [second]
    assert runs_of_part({"history": "not a list"}, SCORE_BRANCH) == []


def test_the_bundled_models_branch_run_is_marked():
    import json

    from dfrec.recover import DEFAULT_CHECKPOINT

    meta = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())["metadata"]
    runs = runs_of_part(meta, SCORE_BRANCH)
    assert len(runs) == 1 and runs[0]["images"] == 24720  # what the next branch continuation counts on
