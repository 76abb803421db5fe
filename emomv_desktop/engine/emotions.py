"""The five emotion labels of EmoMV, and the one place where the datasets' spellings map onto them."""

from __future__ import annotations

import enum


class Emotion(enum.IntEnum):
    """EmoMV's emotion classes. The integer value is the class index used by every model and file."""

    EXCITING = 0
    FEARFUL = 1
    TENSE = 2
    SAD = 3
    RELAXING = 4

    @property
    def label(self) -> str:
        """Lower-case display name (``"exciting"``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | int) -> "Emotion":
        """Map any spelling found in the EmoMV files (or an index) onto an :class:`Emotion`.

        Accepts ``exciting``/``Exciting``, ``fear``/``Fear``/``fearful``, ``tense``, ``sad``,
        ``relax``/``Relax``/``relaxing``, the enum names, and the integers 0-4 (also as strings).
        """
        if isinstance(text, int):
            return cls(text)
        key = str(text).strip().lower()
        if key.isdigit():
            return cls(int(key))
        try:
            return _SPELLINGS[key]
        except KeyError:
            raise ValueError(f"unknown emotion label {text!r}; expected one of {', '.join(_SPELLINGS)}") from None


_SPELLINGS: dict[str, Emotion] = {
    "exciting": Emotion.EXCITING,
    "excited": Emotion.EXCITING,
    "fear": Emotion.FEARFUL,
    "fearful": Emotion.FEARFUL,
    "tense": Emotion.TENSE,
    "tension": Emotion.TENSE,
    "sad": Emotion.SAD,
    "relax": Emotion.RELAXING,
    "relaxing": Emotion.RELAXING,
    "relaxed": Emotion.RELAXING,
}

NUM_EMOTIONS = len(Emotion)
EMOTION_LABELS: tuple[str, ...] = tuple(e.label for e in Emotion)
