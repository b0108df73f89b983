"""Pre-labelling rounds: which images round one annotates (the drafts: tests/pipelines/prelabel)."""

from __future__ import annotations

import pytest

from tests.support.prelabel_world import one_image_scenes
from urur.prelabel.drafts import PrelabelError, choose_round_one


def test_round_one_takes_a_third_of_the_scenes_city_by_city_and_refuses_empty_or_all():
    manifest = one_image_scenes([(f"{c}{k}", c) for c in "ABC" for k in range(2)])
    rounds = choose_round_one(manifest, 1 / 3, seed=0)
    first = rounds[rounds["round"] == 1]
    assert len(first) == 2 and first["city"].nunique() == 2
    assert rounds.equals(choose_round_one(manifest, 1 / 3, seed=0))
    with pytest.raises(PrelabelError, match=r"no image.*parameters_prelabel\.yml"):
        choose_round_one(manifest, images=[])
    with pytest.raises(PrelabelError, match="all 6 images"):
        choose_round_one(manifest, 1.0)
