"""The embedded store has one owner: a second opener is refused (or works on a snapshot), never
allowed to corrupt the shard the server is using."""

import pytest

from core.knowledge_types import PointRecord
from storage.vectors.edge import EdgeVectorStore, StoreBusy


async def test_second_owner_is_refused_and_a_snapshot_reader_sees_the_data(tmp_path, e5) -> None:
    owner = EdgeVectorStore(tmp_path, "kb")
    await owner.ensure_collection(e5.dim)
    vector = (await e5.embed_passages(["Маникюр стоит 5000 тенге"]))[0]
    await owner.upsert([PointRecord(
        id="00000000-0000-0000-0000-000000000001", vector=vector,
        payload={"content": "Маникюр стоит 5000 тенге",
                 "metadata": {"client_slug": "a", "doc_name": "d", "source": "document"}})])
    try:
        intruder = EdgeVectorStore(tmp_path, "kb")
        with pytest.raises(StoreBusy, match="in use by another gateway process"):
            await intruder.ensure_collection(e5.dim)
        reader = EdgeVectorStore(tmp_path, "kb", snapshot_if_busy=True)
        await reader.ensure_collection(e5.dim)
        assert reader.path != owner.path
        assert await reader.count("a") == 1
        snapshot = reader.path
        await reader.aclose()
        assert not snapshot.exists()
    finally:
        await owner.aclose()
    # Once the owner has let go, the store opens normally again.
    again = EdgeVectorStore(tmp_path, "kb")
    await again.ensure_collection(e5.dim)
    assert await again.count("a") == 1
    await again.aclose()
