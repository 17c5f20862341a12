"""SavedModel export: TF Serving layout, the promised signature, and predictions equal to Keras's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fresh_process import run_script

from mnist_zoo import ConfigError, export_saved_model, train
from mnist_zoo.export import export_file, in_float32
from mnist_zoo.models import build
from mnist_zoo.training.distribute import dtype_policy
from mnist_zoo.training.runner import predict_probabilities

SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    outputs = serve(images=tf.constant(np.load(sys.argv[2])))
    assert "mnist_zoo" not in sys.modules
    assert outputs["probabilities"].dtype == tf.float32 and outputs["classes"].dtype == tf.int64
    np.save(sys.argv[3], outputs["probabilities"].numpy())
    np.save(sys.argv[4], outputs["classes"].numpy())
    """
)


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("export") / "run"
    return train("cnn_small", out=out, **{"train.epochs": 1, "data.train_size": 2000, "data.validation_size": 500})


def test_export_matches_keras_on_all_test_images_in_a_fresh_process(cnn_run, tmp_path, mnist):
    _, (x_test, _) = mnist
    version = export_saved_model(cnn_run.model, tmp_path / "export")
    assert version == tmp_path / "export" / "1" and (version / "saved_model.pb").exists()
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["1"]  # no staging directories left
    np.save(tmp_path / "x.npy", x_test)
    run_script(SERVE, version, tmp_path / "x.npy", tmp_path / "p.npy", tmp_path / "c.npy", cwd=tmp_path)
    served, classes = np.load(tmp_path / "p.npy"), np.load(tmp_path / "c.npy")
    expected = predict_probabilities(cnn_run.model, x_test)
    assert served.shape == (10000, 10) and classes.shape == (10000,)
    assert np.abs(served - expected).max() < 1e-5
    np.testing.assert_array_equal(classes, expected.argmax(axis=1))


def test_saved_model_cli_shows_the_signature(cnn_run, tmp_path):
    version = export_saved_model(cnn_run.model, tmp_path / "export", version=3)
    cli = Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--dir", str(version), "--tag_set", "serve",
                            "--signature_def", "serving_default"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "inputs['images'] tensor_info: dtype: DT_UINT8 shape: (-1, 28, 28)" in text
    assert "outputs['probabilities'] tensor_info: dtype: DT_FLOAT shape: (-1, 10)" in text
    assert "outputs['classes'] tensor_info: dtype: DT_INT64 shape: (-1)" in text


def test_existing_version_needs_force(cnn_run, tmp_path):
    first = export_saved_model(cnn_run.model, tmp_path / "export")
    marker = first / "assets" / "marker"
    marker.write_text("old")
    with pytest.raises(ConfigError, match="already exists"):
        export_saved_model(cnn_run.model, tmp_path / "export")
    assert marker.exists()
    export_saved_model(cnn_run.model, tmp_path / "export", force=True)
    assert not marker.exists() and (first / "saved_model.pb").exists()
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["1"]


@pytest.mark.parametrize("fmt, module", [("onnx", "onnxruntime"), ("tflite", "ai_edge_litert")])
def test_onnx_and_tflite_match_keras_on_all_test_images(fmt, module, cnn_run, tmp_path, mnist):
    pytest.importorskip(module, reason=f"the {fmt} extra is not installed: pip install 'mnist_zoo[{fmt if fmt == 'onnx' else 'litert'}]'")
    _, (x_test, _) = mnist
    path = export_file(cnn_run.model, tmp_path, fmt)
    assert path.name == f"model.{fmt}" and [p.name for p in tmp_path.iterdir()] == [path.name]
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        probabilities = session.run(None, {session.get_inputs()[0].name: x_test})[0]
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        images = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(images["index"], list(x_test.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(images["index"], x_test)
        interpreter.invoke()
        probabilities = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    # the file computes in float32 whatever the run's precision ("auto": bfloat16 for this CNN on CPUs with
    # bfloat16 instructions): the float32 model's predictions, and the run's own but for near-ties
    expected = predict_probabilities(in_float32(cnn_run.model), x_test)
    assert probabilities.shape == (10000, 10)
    assert np.abs(probabilities - expected).max() < 1e-4
    np.testing.assert_array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    own = predict_probabilities(cnn_run.model, x_test).argmax(axis=1)
    assert np.mean(probabilities.argmax(axis=1) == own) > 0.995
    with pytest.raises(ConfigError, match="already exists"):
        export_file(cnn_run.model, tmp_path, fmt)


def test_a_bfloat16_model_exports_to_onnx_as_its_float32_copy(tmp_path, mnist):
    """On every CPU, whatever precision "auto" chose for the fixture's run: ONNX Runtime has no bfloat16 layers."""
    onnxruntime = pytest.importorskip("onnxruntime",
                                      reason="the onnx extra is not installed: pip install 'mnist_zoo[onnx]'")
    _, (x_test, _) = mnist
    with dtype_policy("mixed_bfloat16"):
        model = build("cnn_fast")
    session = onnxruntime.InferenceSession(str(export_file(model, tmp_path, "onnx")))
    probabilities = session.run(None, {session.get_inputs()[0].name: x_test[:1000]})[0]
    assert np.abs(probabilities - predict_probabilities(in_float32(model), x_test[:1000])).max() < 1e-4


def test_onnx_int8_quantizes_the_dense_layers_and_keeps_the_predictions(cnn_run, tmp_path, mnist):
    onnxruntime = pytest.importorskip("onnxruntime",
                                      reason="the onnx extra is not installed: pip install 'mnist_zoo[onnx]'")
    import onnx

    _, (x_test, y_test) = mnist
    path = export_file(cnn_run.model, tmp_path, "onnx_int8")
    assert path.name == "model.int8.onnx" and [p.name for p in tmp_path.iterdir()] == [path.name]
    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "DynamicQuantizeLinear" in operators and "MatMul" not in operators and "Conv" in operators
    assert path.stat().st_size < 0.5 * export_file(cnn_run.model, tmp_path / "fp32", "onnx").stat().st_size
    session = onnxruntime.InferenceSession(str(path))
    probabilities = session.run(None, {session.get_inputs()[0].name: x_test})[0]
    expected = predict_probabilities(cnn_run.model, x_test)
    assert probabilities.shape == (10000, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # int8 rounding moves probabilities a little and flips only near-ties
    assert np.mean(probabilities.argmax(axis=1) == expected.argmax(axis=1)) > 0.99
    accuracy = np.mean(probabilities.argmax(axis=1) == y_test)
    assert abs(accuracy - np.mean(expected.argmax(axis=1) == y_test)) < 0.005
