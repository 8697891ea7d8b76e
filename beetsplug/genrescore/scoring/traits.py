"""Mood and vocals from an AudioSet tagger's label scores: pure functions over label -> score.

AudioSet (the ontology YAMNet and AST are trained on) has six mood classes under "Music
mood" and a dozen classes of the human voice. An AudioSet tagger's track scores (each
window's strongest patch, averaged over the windows) name them with no extra model pass. A
tagger that does not speak AudioSet (MagnaTagATune) gives no mood and no vocals: absent,
not guessed (:func:`has_audioset_vocabulary`).

The thresholds below were measured by ``benchmarks/vocals_mood.py``: the mood floor and the
speech threshold with the embedded YAMNet, the singing threshold per tagger (YAMNet,
EfficientAT mn04) on the dev set's real recordings (``--devset``). AST speaks the same
labels and is read with YAMNet's thresholds; its score scale was not calibrated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: AudioSet's "Music mood" classes -> the mood name stored (``genrescore_mood``).
MOOD_LABELS: Final[Mapping[str, str]] = {
    "Happy music": "happy",
    "Sad music": "sad",
    "Tender music": "tender",
    "Exciting music": "exciting",
    "Angry music": "angry",
    "Scary music": "scary",
}

#: AudioSet classes of a voice singing or rapping, and the score from which one says
#: "vocal" with the embedded YAMNet. Chosen by ``benchmarks/vocals_mood.py --devset`` on the
#: dev set's 197 clips labelled for vocals (37 sung, 103 recorded instrumentals, 57 sequenced
#: instrumentals) and the 10 synthesized styles: the highest threshold of most recall at 90 %
#: precision (:data:`VOCAL_MIN_PRECISION`): in-sample 90.0 % precision, 73.0 % recall;
#: chosen without each artist's clips, on that artist's, 75.9 % / 59.5 % (was 100 % / 29.7 %
#: at 0.07). YAMNet's "Singing" under a band is faint (0.013-0.128 on the sung clips, up to
#: 0.067 on the instrumentals, a church organ 0.057 now reads vocal), so no threshold reaches
#: the issue's 80 % recall at 90 % precision with it (docs/accuracy.md, "Vocals"). Left out:
#: "Chant" and "Humming", which organs and drones carry.
SINGING_LABELS: Final[tuple[str, ...]] = (
    "Singing",
    "Choir",
    "Male singing",
    "Female singing",
    "Child singing",
    "Synthetic singing",
    "Rapping",
    "Yodeling",
    "Vocal music",
    "A capella",
)
SINGING_THRESHOLD: Final = 0.0351
#: AudioSet classes of a speaking voice, and their threshold. Same material: espeak-ng speech
#: mixed as loud as the music scores "Speech" 0.18-0.91 over the drum styles, the piano and
#: the strings (0.99 alone); the instrumentals' strongest speech class is 0.134 (an arco
#: double bass; the next 0.027). Quieter speech drowns: YAMNet hears it over hip hop at
#: -12 dB (0.29) but not over the rock band at -6 dB (0.003).
SPEECH_LABELS: Final[tuple[str, ...]] = (
    "Speech",
    "Male speech, man speaking",
    "Female speech, woman speaking",
    "Child speech, kid speaking",
    "Narration, monologue",
    "Conversation",
    "Speech synthesizer",
)
SPEECH_THRESHOLD: Final = 0.2
#: The precision the singing thresholds are chosen for (issue 22: recall >= 80 % at
#: precision >= 90 % on real recordings).
VOCAL_MIN_PRECISION: Final = 0.9


@dataclass(frozen=True)
class VocalRule:
    """One tagger's thresholds: a singing class or a speech class at its threshold is vocal."""

    singing: float
    speech: float

    def thresholds(self) -> dict[str, float]:
        """Every voice class with its threshold."""
        return {
            **dict.fromkeys(SINGING_LABELS, self.singing),
            **dict.fromkeys(SPEECH_LABELS, self.speech),
        }


#: The embedded YAMNet's rule, and the rule of any AudioSet tagger not calibrated (AST).
YAMNET_VOCALS: Final = VocalRule(singing=SINGING_THRESHOLD, speech=SPEECH_THRESHOLD)
#: EfficientAT mn04's rule, chosen the same way on the same clips (``--tagger efficientat``):
#: its "Singing" separates sung from instrumental far better than YAMNet's (0.018-0.6 on the
#: sung clips, up to 0.08 on the instrumentals): in-sample 90.2 % precision, 100 % recall;
#: held out by artist 89.7 % / 94.6 % (the synthesized blues reads vocal). Speech as
#: YAMNet's, not calibrated on speech mixes for mn04: its instrumentals' strongest speech
#: class is 0.065.
EFFICIENTAT_VOCALS: Final = VocalRule(singing=0.0182, speech=SPEECH_THRESHOLD)
#: Tagger backend name -> its rule; others get :data:`YAMNET_VOCALS`.
VOCAL_RULES: Final[Mapping[str, VocalRule]] = {
    "yamnet": YAMNET_VOCALS,
    "efficientat": EFFICIENTAT_VOCALS,
}


def vocal_rule(tagger: str) -> VocalRule:
    """The vocals rule for a tagger backend's name."""
    return VOCAL_RULES.get(tagger, YAMNET_VOCALS)


#: Every voice class with YAMNet's threshold.
VOCAL_THRESHOLDS: Final[Mapping[str, float]] = YAMNET_VOCALS.thresholds()
VOCAL_LABELS: Final[tuple[str, ...]] = tuple(VOCAL_THRESHOLDS)

#: A mood is named from this score on... YAMNet gives the mood classes little: the largest
#: dev-set and synthesized-style scores are 0.02-0.05 (piano and violin pieces "Tender
#: music" 0.044-0.047, a death-metal clip "Angry music" 0.035, techno "Exciting music" 0.012),
#: most under 0.01.
MOOD_MIN_SCORE: Final = 0.01
#: ...and when it scores at least this share of the strongest mood, so that one clear mood
#: is not followed by the faint others.
MOOD_RELATIVE: Final = 0.5

#: The vocal score at which a voice class meets its threshold.
VOCAL_DECISION: Final = 0.5

#: Labels that only an AudioSet tagger has; their presence tells its vocabulary.
_AUDIOSET_MARKERS: Final = frozenset(MOOD_LABELS)


@dataclass(frozen=True)
class Vocals:
    """Whether a track has a voice in it."""

    #: ``"vocal"`` or ``"instrumental"``.
    kind: str
    #: :func:`vocal_score`: 0 to 1, vocal from :data:`VOCAL_DECISION`.
    score: float
    #: That class's AudioSet label.
    label: str


def has_audioset_vocabulary(labels: object) -> bool:
    """Whether a tagger's labels (any container of names) include AudioSet's mood classes."""
    try:
        return all(label in labels for label in _AUDIOSET_MARKERS)  # type: ignore[operator]
    except TypeError:
        return False


def mood_scores(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Every mood with its score, best first (ties by name)."""
    pairs = [(mood, float(scores.get(label, 0.0))) for label, mood in MOOD_LABELS.items()]
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))


def moods(scores: Mapping[str, float]) -> list[str]:
    """The moods a track is heard in, best first; empty when none is clear enough.

    Parameters
    ----------
    scores : mapping of str to float
        An AudioSet tagger's track scores, label -> 0..1.
    """
    ranked = mood_scores(scores)
    best = ranked[0][1]
    return [
        mood for mood, score in ranked if score >= MOOD_MIN_SCORE and score >= MOOD_RELATIVE * best
    ]


def vocal_score(scores: Mapping[str, float], rule: VocalRule = YAMNET_VOCALS) -> float:
    """Voice evidence, 0 to 1: 0.5 where the strongest voice class meets its threshold.

    ``r / (1 + r)`` of the best ratio ``r`` of a voice class's score to its threshold, so
    one scale serves singing and speech (whose thresholds differ): 0.5 is the decision,
    0.75 three times the threshold. 0 when the tagger has none of the classes.
    """
    limits = rule.thresholds()
    ratio = max(float(scores.get(label, 0.0)) / limit for label, limit in limits.items())
    return ratio / (1.0 + ratio)


def vocals(scores: Mapping[str, float], rule: VocalRule = YAMNET_VOCALS) -> Vocals:
    """``vocal`` when a voice class reaches its threshold under ``rule``, else ``instrumental``."""
    limits = rule.thresholds()
    label = max(VOCAL_LABELS, key=lambda key: (float(scores.get(key, 0.0)) / limits[key], key))
    score = vocal_score(scores, rule)
    return Vocals("vocal" if score >= VOCAL_DECISION else "instrumental", score, label)
