"""benchmarks/yamnet_calibrate.py: the instrument figures and the cross-validation behind the
YAMNet reading, counted by hand on made-up track scores (the script itself runs on the dev
set, outside the fast suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import yamnet_calibrate as cal
from benchmarks.devset import Clip


def scored(
    clip_id: str,
    instruments: tuple[str, ...],
    scores: dict[str, float],
    *,
    group: str,
    complete: bool = True,
    solo: bool | None = None,
) -> cal.Scored:
    clip = Clip(
        id=clip_id,
        path=Path(f"{clip_id}.flac"),
        genre=None,
        instruments=instruments,
        solo=len(instruments) == 1 if solo is None else solo,
        complete=complete,
        source="github:example/samples@0",
        label_source="made up",
        duration=10.0,
        group=group,
    )
    return cal.Scored(clip, scores)


def test_tally_counts_as_the_accuracy_report_does() -> None:
    clips = [
        # A solo violin that also reads "accordion" (complete list: a false instrument).
        scored("fiddle", ("violin",), {"violin": 0.3, "accordion": 0.5}, group="a"),
        # "guitar" is found by any guitar; "strings" on a violin clip is not false.
        scored(
            "band",
            ("guitar", "violin"),
            {"electric guitar": 0.2, "strings": 0.1, "violin": 0.01},
            group="b",
        ),
        # An incomplete list: what is not listed does not count as false.
        scored(
            "mix",
            ("drums",),
            {"drums": 0.01, "synthesizer": 0.4},
            group="c",
            complete=False,
            solo=False,
        ),
    ]
    t = cal.tally(cal.Reading(0.05, 0.0), clips)
    assert (t.solo, t.every, t.false) == ([1, 1], [2, 4], [1, 2])
    assert t.false_by == {"accordion": 1}
    assert (t.found["violin"], t.found["guitar"], t.labelled["violin"]) == (1, 1, 2)
    # Only instruments at least 0.7 x as clear as the strongest are shown: the fiddle's
    # violin (ratio 6 against the accordion's 10) is hidden, the accordion stays.
    t = cal.tally(cal.Reading(0.05, 0.7), clips)
    assert (t.solo, t.false) == ([0, 1], [1, 2])
    # A per-instrument threshold: the accordion needs 0.6 now, and the violin shows again.
    t = cal.tally(cal.Reading(0.05, 0.7, {"accordion": 0.6}), clips)
    assert (t.solo, t.false) == ([1, 1], [0, 2])


def test_each_fold_is_read_with_what_the_other_groups_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cal, "DISPLAY_GRID", (0.01, 0.05))
    monkeypatch.setattr(cal, "RELATIVE_GRID", (0.0, 0.1))
    # Groups a-c: a faint solo violin (0.012), nothing else: threshold 0.01 finds it and any
    # share will do (the first, 0.0, is kept). Group d: a piano with a faint synthesizer
    # that only a share hides.
    clips = [
        scored(f"violin-{g}", ("violin",), {"violin": 0.012}, group=g) for g in ("a", "b", "c")
    ] + [scored("piano-d", ("piano",), {"piano": 0.3, "synthesizer": 0.011}, group="d")]
    # In-sample, d's synthesizer makes the share 0.1: nothing false.
    assert cal.fit_target(clips, ()) == cal.Reading(0.01, 0.1)
    held, chosen = cal.cross_validate(cal.fit_target, clips, folds=4)
    # Held out d, a-c alone keep the share 0.0 and d shows its synthesizer: d's false
    # instrument is counted held out only.
    assert chosen == [cal.Reading(0.01, 0.1)] * 3 + [cal.Reading(0.01, 0.0)]
    assert (held.solo, held.false) == ([4, 4], [1, 4])
    assert (held.solo_recall, held.false_per_clip, held.meets_target()) == (1.0, 0.25, True)
    # folds=0 holds each group out alone: here the same four folds.
    assert cal.cross_validate(cal.fit_target, clips, folds=0) == (held, chosen)


def test_the_target_procedure_keeps_within_the_cap_on_false_instruments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cal, "DISPLAY_GRID", (0.01, 0.05))
    monkeypatch.setattr(cal, "RELATIVE_GRID", (0.0,))
    # At 0.01 the faint cello is found, but each clip shows a false organ: 1 per clip,
    # over the cap. At 0.05 nothing false, the cello missed.
    clips = [
        scored(f"cello-{g}", ("cello",), {"cello": 0.02, "organ": 0.03}, group=g)
        for g in ("a", "b")
    ]
    assert cal.fit_target(clips, ()) == cal.Reading(0.05, 0.0)
    # The score procedure pays half a point per false instrument: 1 + 1 - 0.5 beats 0.
    assert cal.fit_score(clips, ()) == cal.Reading(0.01, 0.0)


@pytest.mark.parametrize(
    ("groups", "overrides"), [(("a", "a"), {}), (("a", "b"), {"trumpet": 0.01})]
)
def test_a_per_instrument_threshold_needs_clips_of_two_groups(
    monkeypatch: pytest.MonkeyPatch, groups: tuple[str, str], overrides: dict[str, float]
) -> None:
    monkeypatch.setattr(cal, "DISPLAY_GRID", (0.05,))
    monkeypatch.setattr(cal, "RELATIVE_GRID", (0.0,))
    monkeypatch.setattr(cal, "OVERRIDE_GRID", (0.01,))
    clips = [
        scored(f"trumpet-{i}", ("trumpet",), {"trumpet": 0.02}, group=g)
        for i, g in enumerate(groups)
    ]
    assert cal.fit_per_instrument(clips, ()) == cal.Reading(0.05, 0.0, overrides)


def test_negative_quantiles_are_read_from_the_clips_that_lack_the_instrument() -> None:
    clips = [
        scored(f"n{i}", ("piano",), {"synthesizer": value}, group="a")
        for i, value in enumerate((0.1, 0.2, 0.3, 0.4, 0.5))
    ] + [
        # Labelled with it, or an incomplete list: not a false alarm of the synthesizer.
        scored("synth", ("synthesizer",), {"synthesizer": 0.9}, group="b"),
        scored("open", ("piano",), {"synthesizer": 0.8}, group="c", complete=False),
    ]
    # 0.9 of the way through five sorted values: 0.4 + 0.6 x (0.5 - 0.4).
    assert cal.negative_quantiles(clips, 0.9, 0.01)["synthesizer"] == pytest.approx(0.46)
    assert cal.negative_quantiles(clips, 1.0, 0.01)["synthesizer"] == 0.5
    assert cal.negative_quantiles(clips, 0.9, 0.6)["synthesizer"] == 0.6
    # The piano's false alarms are the synthesizer clip's 0.0: the floor.
    assert cal.negative_quantiles(clips, 0.9, 0.02)["piano"] == 0.02
