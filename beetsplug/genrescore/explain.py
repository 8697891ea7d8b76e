"""Human-readable account of how a genre was chosen (``beet genrescore --explain``)."""

from __future__ import annotations

from collections.abc import Mapping

from .analyzer import TrackResult
from .scoring.ensemble import Component
from .scoring.taxonomy import display_name

_NAMES = {
    Component.ML: "genre model",
    Component.HEURISTIC: "heuristics",
    Component.TAGGER_GENRES: "tagger's genre classes",
    Component.INSTRUMENTS: "instrument boosts",
}


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _top(distribution: Mapping[str, float], limit: int = 4) -> str:
    best = sorted(distribution.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return ", ".join(f"{display_name(genre)} {_percent(share)}" for genre, share in best) or "-"


def explain(result: TrackResult) -> list[str]:
    """Lines describing each component's top scores, the boosts and the blend."""
    decision = result.decision
    lines = [f"  method: {result.method}"]
    for report in result.components:
        name = _NAMES[report.component]
        if report.component is Component.INSTRUMENTS:
            raw = ", ".join(f"{label} {score:.3f}" for label, score in report.raw[:5])
            lines.append(f"  instrument tagger ({report.source}): {raw}")
            if report.genres:
                lines.append(f"  {_NAMES[Component.TAGGER_GENRES]}: {_top(report.genres)}")
            continue
        lines.append(f"  {name} ({report.source}): {_top(report.genres)}")
        if report.component is Component.ML and decision.headed is not None:
            lines.append(
                f"    through your genre head (genre_head {decision.head}): {_top(decision.headed)}"
            )
        if report.component is Component.HEURISTIC:
            why = "; ".join(f"{hit.rule}: {hit.why}" for hit in result.heuristics.hits[:3])
            if why:
                lines.append(f"    because {why}")
    heard = ", ".join(f"{name} {score:.3f}" for name, score in decision.instruments)
    lines.append(f"  instruments detected: {heard or 'none'}")
    by_instrument: dict[str, list[str]] = {}
    for boost in decision.boosts:
        gate = "" if boost.gate >= 1.0 else f" (gated to {_percent(boost.gate)})"
        by_instrument.setdefault(boost.instrument, []).append(
            f"{display_name(boost.genre)} +{boost.amount:.2f}{gate}"
        )
    for instrument, parts in by_instrument.items():
        lines.append(f"  boost {instrument} -> {', '.join(parts)}")
    weights = ", ".join(
        f"{_NAMES[component]} {_percent(weight)}"
        for component, weight in decision.effective_weights.items()
    )
    lines.append(f"  weights used: {weights}")
    lines.append(f"  result: {_top(decision.distribution, limit=len(decision.top))}")
    if decision.confidence != decision.share:
        lines.append(
            f"  confidence: {_percent(decision.confidence)} that {display_name(decision.genre)} "
            f"is right (its share {_percent(decision.share)}, calibrated on the dev set)"
        )
    lines.extend(_traits(result))
    return lines


def _traits(result: TrackResult) -> list[str]:
    """Tempo (with its octave choice), mood and vocals."""
    tempo = result.bpm
    lines = [f"  bpm: {tempo.bpm:.0f} ({tempo.why})" if tempo.bpm else f"  bpm: - ({tempo.why})"]
    if result.mood is None:
        lines.append("  mood, vocals: - (no AudioSet tagger ran)")
        return lines
    scores = ", ".join(f"{mood} {score:.3f}" for mood, score in result.mood_scores)
    lines.append(f"  mood: {', '.join(result.mood) or 'none clear'} (scores: {scores})")
    vocals = result.vocals
    if vocals is not None:
        lines.append(
            f"  vocals: {vocals.kind} {vocals.score:.2f} (strongest voice class: {vocals.label})"
        )
    return lines
