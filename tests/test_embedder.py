"""The bundled sentence-embedding model, loaded from its sentence-transformers folder."""

from pathlib import Path

import numpy as np
import pytest

from lfe_local.config import bundled_embedder
from lfe_local.errors import LfeError

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def embedder():
    if not Path(bundled_embedder()).exists():
        pytest.skip("bundled embedding model missing: run scripts/setup")
    from lfe_local.engines.embedder import Embedder

    return Embedder(bundled_embedder(), batch_size=2)


def test_unit_vectors_and_meaningful_similarity(embedder):
    texts = ["Tom has 3 apples and buys 4 more. How many apples does he have?",
             "Mia has 5 pears and gets 2 more. How many pears does she have now?",
             "The committee postponed the vote on the new tax law until spring."]
    v = embedder.encode(texts)  # batch_size 2: also crosses a batch boundary with padding
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    # Padding must not change a text's vector: alone or in a batch, the same embedding.
    for i in (0, 1):  # batched together (one of them padded), then alone
        assert np.allclose(embedder.encode([texts[i]])[0], v[i], atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_not_a_model_folder(tmp_path):
    from lfe_local.engines.embedder import Embedder

    with pytest.raises(LfeError, match="no config.json"):
        Embedder(tmp_path)
