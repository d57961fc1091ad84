import re
from pathlib import Path

from completer.checkpoint import BUNDLED_DIR, load_checkpoint
from lsp.bench_typing import RECIPE_SHAPE, random_checkpoint


def test_the_random_weight_model_has_the_recipe_shape_and_the_bundled_tokenizer(tmp_path):
    model, tokenizer, _ = load_checkpoint(str(random_checkpoint(tmp_path / "random")))
    config = model.config.to_dict()
    assert {name: config[name] for name in RECIPE_SHAPE} == RECIPE_SHAPE
    assert (tmp_path / "random" / "tokenizer.json").read_bytes() == (BUNDLED_DIR / "tokenizer.json").read_bytes()
    assert tokenizer.mask_id == model.config.mask_token_id


def test_the_recipe_shape_is_the_gpu_recipes_from_scratch_default():
    recipe = (Path(__file__).parents[2] / "completer" / "train" / "gpu_recipe.sh").read_text()
    defaults = {name: int(value) for name, value in re.findall(r"\$\{(\w+):-(\d+)\}", recipe)}
    assert RECIPE_SHAPE == dict(dim=defaults["DIM"], n_layers=defaults["LAYERS"], n_heads=defaults["HEADS"],
                                n_kv_heads=defaults["KV_HEADS"], intermediate_size=defaults["INTERMEDIATE"])
