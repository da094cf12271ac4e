"""The decision layer's example vectors are kept in files between runs: a restart loads them
instead of embedding every example again, a first start the bundled model's shipped ones;
anything else in the file (another set, a damaged file) is computed afresh."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.knowledge_types import ScoreThresholds
from core.policy import DEFAULT_POLICY
from core.semantic import ExampleVectors, SemanticMatcher
from gateway.decision_eval import SHIPPED_EXAMPLE_VECTORS, decision_corpus
from storage.vector_archive import FileVectorArchive

EXAMPLES = [("human_request", "позовите менеджера"), ("payment", "можно через каспи?"),
            ("greeting", "сәлеметсіз бе")]


class CountingEmbedder:
    name = "counting-3"
    dim = 3
    thresholds = ScoreThresholds(0.5, 0.5, 0.9)

    def __init__(self) -> None:
        self.embedded: list[str] = []

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return [[float(len(t)), 1.0, float(i)] for i, t in enumerate(texts)]

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.embed_queries(texts)

    async def aclose(self) -> None:
        pass


def _vectors(archive: FileVectorArchive) -> ExampleVectors:
    vectors = ExampleVectors()
    vectors.keep_in(archive)
    return vectors


async def test_a_restart_loads_the_vectors_instead_of_embedding_them(tmp_path: Path) -> None:
    archive, embedder = FileVectorArchive(tmp_path / "example-vectors"), CountingEmbedder()
    first = await _vectors(archive).index(embedder, EXAMPLES)
    assert embedder.embedded == [text for _, text in EXAMPLES]
    assert len(list((tmp_path / "example-vectors").glob("*.npy"))) == 1

    after_restart = _vectors(archive)
    again = await after_restart.index(embedder, EXAMPLES)
    assert embedder.embedded == [text for _, text in EXAMPLES]  # nothing embedded this time
    assert after_restart.computed == 0
    assert again.texts == first.texts and (again.matrix == first.matrix).all()


async def test_another_set_or_a_damaged_file_is_computed_afresh(tmp_path: Path) -> None:
    archive, embedder = FileVectorArchive(tmp_path), CountingEmbedder()
    await _vectors(archive).index(embedder, EXAMPLES)
    more = [*EXAMPLES, ("thanks", "рахмет")]
    await _vectors(archive).index(embedder, more)
    assert embedder.embedded[len(EXAMPLES):] == [text for _, text in more]

    for stored in tmp_path.glob("*.npy"):
        stored.write_bytes(b"not numpy")
    embedder.embedded.clear()
    fresh = _vectors(archive)
    await fresh.index(embedder, EXAMPLES)
    assert fresh.computed == 1 and embedder.embedded == [text for _, text in EXAMPLES]


async def test_shipped_vectors_are_read_when_the_directory_has_none(tmp_path: Path) -> None:
    shipped, embedder = tmp_path / "shipped", CountingEmbedder()
    await _vectors(FileVectorArchive(shipped)).index(embedder, EXAMPLES)
    embedder.embedded.clear()

    own = tmp_path / "data" / "example-vectors"
    reading = _vectors(FileVectorArchive(own, shipped=shipped))
    await reading.index(embedder, EXAMPLES)
    assert embedder.embedded == [] and reading.computed == 0
    more = [*EXAMPLES, ("thanks", "рахмет")]  # not shipped: computed, kept in its own directory
    await reading.index(embedder, more)
    assert reading.computed == 1 and len(list(own.glob("*.npy"))) == 1
    assert len(list(shipped.glob("*.npy"))) == 1


class ModelNamed(CountingEmbedder):
    """Named as the bundled model, and never asked to embed anything."""

    name = "local-e5-small-384"
    dim = 384

    async def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        raise AssertionError(f"{len(texts)} texts embedded: the shipped vectors are out of date "
                             "(python -m gateway eval decisions --ship-example-vectors)")


async def test_a_first_start_with_the_bundled_model_embeds_no_example() -> None:
    """The shipped vectors hold every set a first start prepares (the default policy's
    examples, the intents' and the decision corpus), as the wiring reads them."""
    vectors = _vectors(FileVectorArchive(Path("/nonexistent"), shipped=SHIPPED_EXAMPLE_VECTORS))
    matcher = SemanticMatcher(ModelNamed(), vectors, corpus=decision_corpus())
    assert matcher.thresholds is not None
    await matcher.prepare(DEFAULT_POLICY)
    assert vectors.computed == 0
