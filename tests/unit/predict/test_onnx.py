"""``urur export-onnx`` and ``urur predict --onnx``: the graph, its Deepness metadata, its labels."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from tests.unit.predict.test_raster import CRS, TRANSFORM, _image
from urur.commands import main
from urur.io.raster import read_raster, write_raster
from urur.models.checkpoint import build_model_from_checkpoint
from urur.predict.onnx import MAX_SIDE, OnnxModelError, load_onnx_predictor
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor


@pytest.fixture(scope="module")
def exported(tmp_path_factory, checkpoint) -> str:
    """The tiny WSDNet checkpoint exported by the command line (once: ~20 s)."""
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    options = ["--tile", "512", "--overlap", "64", "--resolution", "50"]
    done = CliRunner().invoke(main, ["export-onnx", checkpoint, "-o", str(path), *options])
    assert done.exit_code == 0, done.output
    assert f"wrote {path}" in done.output
    return str(path)


def test_metadata_is_what_deepness_reads(exported):
    model = onnx.load(exported)
    props = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert props["model_type"] == "Segmentor"
    assert props["class_names"] == {
        "0": "others", "1": "building", "2": "farmland", "3": "greenhouse",
        "4": "woodland", "5": "bareland", "6": "water", "7": "road",
    }  # fmt: skip
    assert props["tile_size"] == props["tiles_size"] == 512 and props["tiles_overlap"] == 12
    assert props["resolution"] == 50.0 and props["seg_thresh"] == 0
    # Deepness divides by 255 and then standardises: the same numbers as the model's normalisation.
    np.testing.assert_allclose(np.array(props["standardization_mean"]) * 255, IMAGENET_MEAN)
    np.testing.assert_allclose(np.array(props["standardization_std"]) * 255, IMAGENET_STD)
    assert props["urur"]["model"] == "wsdnet" and props["urur"]["options"] == {"width": 0.125}
    # One input and one 4-D output, square with one symbolic side (Deepness checks both).
    (image,), (logits,) = model.graph.input, model.graph.output
    in_dims = [d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim]
    out_dims = [d.dim_value or d.dim_param for d in logits.type.tensor_type.shape.dim]
    assert in_dims[1] == 3 and out_dims[1] == 8 and isinstance(in_dims[0], str)
    assert in_dims[2] == in_dims[3] == out_dims[2] == out_dims[3] and isinstance(in_dims[2], str)
    # The inference graph only: no weight of the auxiliary or super-resolution head.
    names = [tensor.name for tensor in model.graph.initializer]
    assert any(name.startswith("head.") for name in names)
    assert not [name for name in names if name.startswith(("aux_head", "sr_head"))]


@pytest.mark.parametrize(("batch", "side"), [(1, 192), (3, 256), (1, 320)])
def test_onnxruntime_labels_agree_with_the_torch_model(exported, checkpoint, batch, side):
    """Sides other than the traced one (256) too: the graph's sizes are symbolic."""
    model, _ = build_model_from_checkpoint(checkpoint)
    images = torch.stack(
        [normalize(to_tensor(_image(side, side, seed=k)), IMAGENET_MEAN, IMAGENET_STD) for k in range(batch)]
    )
    with torch.inference_mode():
        expected = model(images)
    session = ort.InferenceSession(exported, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": images.numpy()})[0]
    assert got.shape == (batch, 8, side, side)
    agreement = (got.argmax(1) == expected.argmax(1).numpy()).mean()
    assert agreement >= 0.999, agreement
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def _predict(args: list[str]) -> None:
    done = CliRunner().invoke(main, ["predict", *args, "--tile", "64", "--overlap", "16"])
    assert done.exit_code == 0, done.output


def test_predict_onnx_gives_the_labels_of_torch_predict(tmp_path, exported, checkpoint):
    """The same tile loop, blending and fill handling; only the forward differs."""
    pixels = _image(200, 232, seed=2)
    pixels[20:50, 30:90] = 0
    source = tmp_path / "scene.tif"
    write_raster(source, pixels, crs=CRS, transform=TRANSFORM, nodata=0)
    by_torch, by_onnx = tmp_path / "torch.tif", tmp_path / "onnx.tif"
    _predict([str(source), "-o", str(by_torch), "--checkpoint", checkpoint, "--device", "cpu"])
    _predict([str(source), "-o", str(by_onnx), "--onnx", exported, "--confidence", str(tmp_path / "c.tif")])
    torch_labels, onnx_labels = read_raster(by_torch), read_raster(by_onnx)
    assert (torch_labels == onnx_labels).mean() >= 0.999
    fill = (pixels == 0).all(axis=-1)
    assert (onnx_labels[fill] == 255).all() and (onnx_labels[~fill] < 8).all()
    assert (read_raster(tmp_path / "c.tif")[fill] == 0).all()


def test_tiles_the_graph_cannot_take_are_padded_or_refused(exported, checkpoint):
    """A raster smaller than the tile gives non-square tiles: padded to a square the graph takes."""
    model, meta = load_onnx_predictor(exported, threads=1)
    assert not model.training and meta["class_names"][7] == "road"
    image = normalize(to_tensor(_image(40, 72, seed=3)), IMAGENET_MEAN, IMAGENET_STD)[None]
    assert model(image).shape == (1, 8, 40, 72)
    with pytest.raises(ValueError, match=rf"larger than the ONNX graph takes \({MAX_SIDE}\); pass --tile"):
        model(torch.zeros(1, 3, 8, MAX_SIDE + 1))


def test_bad_onnx_models_and_options_are_named(tmp_path, exported, checkpoint):
    with pytest.raises(OnnxModelError, match=r"missing.onnx does not exist; export one with `urur export"):
        load_onnx_predictor(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(OnnxModelError, match=r"cannot load the ONNX model .*junk.onnx"):
        load_onnx_predictor(tmp_path / "junk.onnx")
    bare = onnx.load(exported)
    del bare.metadata_props[:]
    onnx.save(bare, tmp_path / "bare.onnx")
    with pytest.raises(OnnxModelError, match=r"bare.onnx lacks the 'urur' metadata"):
        load_onnx_predictor(tmp_path / "bare.onnx")
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    runner = CliRunner()
    both = ["predict", str(source), "-o", str(tmp_path / "x.tif"), "--onnx", exported]
    done = runner.invoke(main, [*both, "--checkpoint", checkpoint, "--compile"])
    assert done.exit_code == 1 and "--onnx runs the exported graph" in done.output
    assert "drop --checkpoint, --compile (for the torch model only)" in done.output
    done = runner.invoke(main, ["export-onnx", checkpoint, "-o", str(tmp_path / "model.tif")])
    assert done.exit_code == 1 and "give a .onnx path, not" in done.output
    done = runner.invoke(main, ["export-onnx", checkpoint, "-o", exported])
    assert done.exit_code == 1 and "model.onnx exists; pass --overwrite" in done.output
    done = runner.invoke(main, ["export-onnx", checkpoint, "-o", str(tmp_path / "m.onnx"), "--tile", "100"])
    assert done.exit_code == 1 and "multiple of 32 in 64..2560" in done.output
    assert not list(tmp_path.glob("*.onnx.*")) and not (tmp_path / "m.onnx").exists()
