"""The native reference: ONNX Runtime (PyPI `onnxruntime`, not shipped) on the same backbones,
paired round by round with our native `bench` (burn-flex). Run by scripts/bench.sh.

The ONNX graphs are built here from the original TF.js files the weights tool fetched
(weights/cache): faceres' graph model (NHWC ops translated to NCHW) and resnet50-imagenet's Keras
layers model cut at `avg_pool`. Before timing, each graph's embeddings of the reference inputs are
checked against ../shared/testvectors (an independent implementation), so the reference computes
the same thing as ours.

python3 bench/ort.py --bench-bin PATH [--backbones a,b] [--rounds N] [--batch N] [--json FILE]
Each round: our `bench --backends flex` in a fresh process (median of 3 runs after a warm-up),
then ONNX Runtime in this process (same batch, median of 3 runs); 1 thread and all cores.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
TESTVECTORS = Path(os.environ.get("FACELAB_TESTVECTORS", REPO.parent / "shared" / "testvectors")).resolve()
CAFFE_BGR_MEANS = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def tfjs_weights(model_json: Path) -> dict:
    """The weights of a TF.js model (every manifest group's shards, float16 storage widened)."""
    manifest = json.loads(model_json.read_text())["weightsManifest"]
    weights = {}
    for group in manifest:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            stored = w.get("quantization", {}).get("dtype", w["dtype"])
            dtype = {"float32": np.float32, "float16": np.float16, "int32": np.int32}.get(stored)
            if dtype is None:
                sys.exit(f"{model_json}: {w['name']} is stored as {stored}, which this reference does not read")
            size = count * np.dtype(dtype).itemsize
            widened = np.int64 if stored == "int32" else np.float32
            weights[w["name"]] = np.frombuffer(data, dtype, count, offset).astype(widened).reshape(w["shape"])
            offset += size
    return weights


class Graph:
    """An ONNX graph under construction, NCHW, with each tensor's spatial size (for SAME padding)."""

    def __init__(self):
        self.nodes, self.initializers, self.hw = [], [], {}

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, output, hw, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        self.hw[output] = hw
        return output

    def conv(self, x, weight, bias, output, strides, padding, group=1):
        """`weight` in OIHW; `padding` 'SAME'/'same', 'VALID'/'valid'."""
        (h, w), (kh, kw) = self.hw[x], weight.shape[2:]
        if padding.lower() == "same":
            out = [-(-h // strides[0]), -(-w // strides[1])]
            total = [max((out[0] - 1) * strides[0] + kh - h, 0), max((out[1] - 1) * strides[1] + kw - w, 0)]
            pads = [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]
        else:
            out, pads = [(h - kh) // strides[0] + 1, (w - kw) // strides[1] + 1], [0, 0, 0, 0]
        inputs = [x, self.const(output + "/W", weight)] + ([self.const(output + "/B", bias)] if bias is not None else [])
        return self.node("Conv", inputs, output, out, kernel_shape=[kh, kw], strides=list(strides), pads=pads, group=group)

    def model(self, input_name, output, dim):
        graph = helper.make_graph(
            self.nodes, "reference",
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", 3, 224, 224])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", dim])],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        onnx.checker.check_model(model)
        return model


def faceres_onnx(model_json: Path):
    """HSE FaceRes (a TF.js graph model, NHWC) up to 'global_pooling/Mean', as NCHW ONNX."""
    topology = json.loads(model_json.read_text())["modelTopology"]["node"]
    nodes = {n["name"]: n for n in topology}
    weights = tfjs_weights(model_json)
    g, done = Graph(), {}

    def attr(n, key):
        return n.get("attr", {}).get(key, {})

    def build(name):
        if name in done:
            return done[name]
        n = nodes[name]
        op, inputs = n["op"], [i.split(":")[0] for i in n.get("input", []) if not i.startswith("^")]
        if op == "Placeholder":
            g.hw[name] = (224, 224)
            out = name
        elif op == "Const":
            out = ("const", weights[name])
        elif op in ("Conv2D", "DepthwiseConv2dNative"):
            x, kernel = build(inputs[0]), weights[inputs[1]]
            strides = [int(s) for s in attr(n, "strides")["list"]["i"]][1:3]
            padding = base64.b64decode(attr(n, "padding")["s"]).decode()
            if op == "Conv2D":  # HWIO -> OIHW
                out = g.conv(x, kernel.transpose(3, 2, 0, 1), None, name, strides, padding)
            else:  # H W C M -> (C*M) 1 H W, one group per input channel
                h, w, c, m = kernel.shape
                out = g.conv(x, kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w), None, name, strides, padding, group=c)
        elif op in ("Add", "Mul", "Minimum", "Maximum"):
            a, b = build(inputs[0]), build(inputs[1])
            if isinstance(a, tuple):
                a, b = b, a
            if isinstance(b, tuple):  # per-channel (NHWC last axis) or scalar constant
                value = b[1]
                b = g.const(name + "/c", value.reshape(-1, 1, 1) if value.ndim == 1 else value)
            onnx_op = {"Add": "Add", "Mul": "Mul", "Minimum": "Min", "Maximum": "Max"}[op]
            out = g.node(onnx_op, [a, b], name, g.hw[a])
        elif op == "Relu":
            x = build(inputs[0])
            out = g.node("Relu", [x], name, g.hw[x])
        elif op == "Mean":
            x, axes = build(inputs[0]), weights[inputs[1]]
            if sorted(axes.tolist()) != [1, 2] or attr(n, "keep_dims").get("b", False):
                raise SystemExit(f"faceres: Mean over NHWC axes {axes.tolist()} not translated")
            out = g.node("ReduceMean", [x, g.const(name + "/axes", np.array([2, 3], np.int64))], name, None, keepdims=0)
        else:
            raise SystemExit(f"faceres: op {op} ({name}) not translated")
        done[name] = out
        return out

    return g.model("input_1", build("global_pooling/Mean"), 1024)


def resnet50_onnx(model_json: Path):
    """Keras' ImageNet ResNet50 (a TF.js layers model) up to 'avg_pool', as NCHW ONNX."""
    layers = json.loads(model_json.read_text())["modelTopology"]["model_config"]["config"]["layers"]
    weights = tfjs_weights(model_json)
    g = Graph()
    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        name, inputs = config["name"], [i[0] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if kind == "InputLayer":
            g.hw[name] = (224, 224)
        elif kind == "ZeroPadding2D":
            (t, b), (l, r) = config["padding"]
            h, w = g.hw[inputs[0]]
            g.node("Pad", [inputs[0], g.const(name + "/pads", np.array([0, 0, t, l, 0, 0, b, r], np.int64))], name, (h + t + b, w + l + r))
        elif kind == "Conv2D":
            bias = weights[name + "/bias"] if config["use_bias"] else None
            g.conv(inputs[0], weights[name + "/kernel"].transpose(3, 2, 0, 1), bias, name, config["strides"], config["padding"])
        elif kind == "BatchNormalization":
            params = [g.const(f"{name}/{p}", weights[f"{name}/{p}"]) for p in ("gamma", "beta", "moving_mean", "moving_variance")]
            g.node("BatchNormalization", [inputs[0], *params], name, g.hw[inputs[0]], epsilon=config["epsilon"])
        elif kind == "Activation" and config["activation"] == "relu":
            g.node("Relu", inputs, name, g.hw[inputs[0]])
        elif kind == "MaxPooling2D" and config["padding"] == "valid":
            (h, w), (k, s) = g.hw[inputs[0]], (config["pool_size"], config["strides"])
            g.node("MaxPool", inputs, name, ((h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1), kernel_shape=k, strides=s)
        elif kind == "Add":
            g.node("Sum", inputs, name, g.hw[inputs[0]])
        elif kind == "GlobalAveragePooling2D":
            pooled = g.node("GlobalAveragePool", inputs, name + "/pool", (1, 1))
            return g.model("input_1", g.node("Flatten", [pooled], name, None), 2048)
        else:
            raise SystemExit(f"resnet50-imagenet: layer {kind} ({name}) not translated")
    raise SystemExit("resnet50-imagenet: no GlobalAveragePooling2D (avg_pool) layer")


BACKBONES = {
    "faceres": (faceres_onnx, "faceres/models/faceres.json", "faceres"),
    "resnet50-imagenet": (resnet50_onnx, "resnet50-imagenet/ResNet50/model.json", "resnet50"),
}


def reference_inputs(batch):
    """The three 224x224 reference inputs (as our bench reads them), cycled to `batch`, as BGR
    minus the caffe means, NCHW; and their names."""
    paths = sorted((TESTVECTORS / "inputs").glob("*_224.png"))
    if not paths:
        sys.exit(f"no *_224.png in {TESTVECTORS}/inputs: the reference inputs belong in ../shared/testvectors (or set FACELAB_TESTVECTORS)")
    arrays = [np.asarray(Image.open(p).convert("RGB"), np.float32)[:, :, ::-1] - CAFFE_BGR_MEANS for p in paths]
    chosen = [arrays[i % len(arrays)] for i in range(batch)]
    return np.stack(chosen).transpose(0, 3, 1, 2).copy(), [p.name for p in paths]


def check_against_testvectors(session, key, names):
    """Lowest cosine between this graph's embeddings and the independent reference's."""
    per_image = json.loads((TESTVECTORS / "vectors.json").read_text())["embeddings"][key]["per_image"]
    expected = {Path(e["file"]).stem: np.array(e["full"], np.float32) for e in per_image}
    inputs, _ = reference_inputs(len(names))
    got = session.run(None, {"input_1": inputs})[0]
    cosines = []
    for embedding, name in zip(got, names):
        e = expected[name.removesuffix("_224.png")]
        cosines.append(float(embedding @ e / np.linalg.norm(embedding) / np.linalg.norm(e)))
    return min(cosines)


def session(model, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_ms_per_image(sess, inputs, runs=3):
    sess.run(None, {"input_1": inputs})  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        sess.run(None, {"input_1": inputs})
        times.append((time.perf_counter() - started) * 1e3 / len(inputs))
    return float(np.median(times))


def ours_ms_per_image(bench_bin, backbone, threads, batch):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
        subprocess.run([bench_bin, "--backbones", backbone, "--backends", "flex", "--batch", str(batch), "--runs", "3", "--json", out.name],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())["rows"][0]["median"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench-bin", required=True)
    parser.add_argument("--backbones", default="faceres,resnet50-imagenet")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--json", default=str(REPO / "tests/output/bench-ort.json"))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    inputs, names = reference_inputs(args.batch)
    rows = []
    for backbone in args.backbones.split(","):
        if backbone not in BACKBONES:
            print(f"native {backbone}: no ONNX Runtime reference here (only {', '.join(BACKBONES)})", flush=True)
            continue
        build, path, key = BACKBONES[backbone]
        model_json = REPO / "weights/cache" / path
        if not model_json.exists():
            sys.exit(f"{model_json} missing: `cargo run --release --bin weights -- fetch` (scripts/setup.sh) fetches it")
        model = build(model_json)
        for threads in sorted({1, cores}):
            sess = session(model, threads)
            cosine = check_against_testvectors(sess, key, names)
            if cosine < 0.9999:
                sys.exit(f"{backbone}: the ONNX reference graph's embeddings differ from the test vectors (cosine {cosine:.6f})")
            ours, theirs, ratios = [], [], []
            for _ in range(args.rounds):
                ours.append(ours_ms_per_image(args.bench_bin, backbone, threads, args.batch))
                theirs.append(ort_ms_per_image(sess, inputs))
                ratios.append(ours[-1] / theirs[-1])
            row = {"backbone": backbone, "threads": threads, "batch": args.batch, "rounds": args.rounds,
                   "ours_flex": float(np.median(ours)), "ours_min": min(ours), "ours_max": max(ours),
                   "onnxruntime": float(np.median(theirs)), "onnxruntime_min": min(theirs), "onnxruntime_max": max(theirs),
                   "ratio": float(np.median(ours) / np.median(theirs)), "paired_ratio": float(np.median(ratios)),
                   "onnxruntime_cosine_to_testvectors": cosine}
            print(f"native {backbone}, {threads} thread(s): ours {row['ours_flex']:.1f} ms/img, onnxruntime {row['onnxruntime']:.1f} ms/img, "
                  f"ratio {row['ratio']:.2f} (paired {row['paired_ratio']:.2f}); reference cosine {cosine:.6f}", flush=True)
            rows.append(row)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"onnxruntime": ort.__version__, "cores": cores, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
