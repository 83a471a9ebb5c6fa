"""The embedded engine's two text classifiers: intent and language, on shared features."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.linear_model import SGDClassifier  # type: ignore[import-untyped]

from bots.nlu.normalise import fold

# Order numbers and emails are told apart by the entity extractor; for the classifiers
# any order number is alike, so it is replaced by a placeholder word.
_ORDER = re.compile(r"\b[a-z]{2}[-_ ]?\d{6,8}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_DIGITS = re.compile(r"\d+")


def features_text(text: str) -> str:
    """What the classifiers read: folded, with order numbers, emails and numbers as words."""
    folded = _EMAIL.sub(" zzemail ", fold(text))
    folded = _ORDER.sub(" zzorder ", folded)
    return _DIGITS.sub(" zznum ", folded)


@dataclass(frozen=True)
class Row:
    """One message's features: the non-zero columns and their values."""

    indices: npt.NDArray[np.intp]
    values: npt.NDArray[np.float64]


class Features:
    """TF-IDF of character n-grams (typos, plurals) and of words and word pairs.

    Training uses scikit-learn's vectorizers; one message at a time is vectorised here
    from their fitted vocabularies, because their per-call overhead is most of a parse.
    """

    def __init__(self) -> None:
        self._parts = (
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, 2),
                sublinear_tf=True,
                token_pattern=r"(?u)\b\w+\b",  # noqa: S106 (not a password)
            ),
        )
        self._fitted: tuple[_FittedPart, ...] = ()

    def fit_transform(self, texts: Sequence[str]) -> csr_matrix:
        prepared = [features_text(text) for text in texts]
        matrices = [part.fit_transform(prepared) for part in self._parts]
        offset = 0
        fitted = []
        for part, matrix in zip(self._parts, matrices, strict=True):
            fitted.append(
                _FittedPart(part.build_analyzer(), dict(part.vocabulary_), part.idf_, offset)
            )
            offset += matrix.shape[1]
        self._fitted = tuple(fitted)
        return csr_matrix(hstack(matrices, format="csr"))

    def transform(self, text: str) -> Row:
        prepared = features_text(text)
        indices: list[int] = []
        values: list[float] = []
        for part in self._fitted:
            counts = Counter(gram for gram in part.analyzer(prepared) if gram in part.vocabulary)
            if not counts:
                continue
            columns = np.fromiter((part.vocabulary[g] for g in counts), np.intp, len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))
            weights = tf * part.idf[columns]
            weights /= np.sqrt(weights @ weights)
            indices.extend((columns + part.offset).tolist())
            values.extend(weights.tolist())
        return Row(np.asarray(indices, dtype=np.intp), np.asarray(values, dtype=np.float64))


@dataclass(frozen=True)
class _FittedPart:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float64]
    offset: int


@dataclass(frozen=True)
class Prediction:
    label: str
    probability: float


class LinearClassifier:
    """Logistic regression (one-vs-rest, trained by SGD: a tenth of a second) whose
    probabilities are computed here: sklearn's per-call input checks cost more than the
    arithmetic when one message at a time is classified.
    """

    def __init__(self, alpha: float = 1e-4, epochs: int = 20) -> None:
        # A fixed seed and epoch count: the same data always trains the same model, and no
        # convergence check means no convergence warning.
        self._model = SGDClassifier(
            loss="log_loss", alpha=alpha, max_iter=epochs, tol=None, random_state=0
        )
        self._labels: tuple[str, ...] = ()
        self._coef: npt.NDArray[np.float64] = np.zeros((0, 0))
        self._intercept: npt.NDArray[np.float64] = np.zeros(0)

    def fit(self, features: csr_matrix, labels: Sequence[str]) -> None:
        self._model.fit(features, list(labels))
        self._labels = tuple(str(label) for label in self._model.classes_)
        coef = np.asarray(self._model.coef_, dtype=np.float64)
        intercept = np.asarray(self._model.intercept_, dtype=np.float64)
        if len(self._labels) == 2:  # sklearn keeps one row for two classes
            coef = np.vstack([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        self._coef = np.ascontiguousarray(coef.T)
        self._intercept = intercept

    def probabilities(self, row: Row) -> npt.NDArray[np.float64]:
        """As SGDClassifier.predict_proba: each class's sigmoid, normalised to sum 1."""
        scores = row.values @ self._coef[row.indices] + self._intercept
        sigmoid = 1.0 / (1.0 + np.exp(-scores))
        total = sigmoid.sum()
        if total <= 0.0:
            return np.full(len(self._labels), 1.0 / len(self._labels))
        result: npt.NDArray[np.float64] = sigmoid / total
        return result

    def predict(self, row: Row) -> Prediction:
        probabilities = self.probabilities(row)
        best = int(probabilities.argmax())
        return Prediction(self._labels[best], float(probabilities[best]))
