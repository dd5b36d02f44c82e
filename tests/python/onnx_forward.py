"""Runs an ONNX file written by `kiln export --format onnx` with onnxruntime:

    python3 onnx_forward.py MODEL.onnx INPUTS.json   # prints {"logits": [[...], ...]}

INPUTS.json holds {"inputs": [[...], ...]}: standardised samples, flattened; each is reshaped
to the graph input's shape. A graph with a fixed batch is run one sample at a time.
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, inputs = sys.argv[1], sys.argv[2]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    graph_input = session.get_inputs()[0]
    shape = graph_input.shape
    with open(inputs) as f:
        x = np.asarray(json.load(f)["inputs"], dtype=np.float32)
    sample = [int(d) for d in shape[1:]]
    if isinstance(shape[0], int):
        batches = [x[i:i + shape[0]] for i in range(0, len(x), shape[0])]
    else:
        batches = [x]
    logits = []
    for batch in batches:
        out = session.run(None, {graph_input.name: batch.reshape(len(batch), *sample)})[0]
        logits.extend(out.tolist())
    print(json.dumps({"logits": logits, "input_shape": [str(d) for d in shape]}))


if __name__ == "__main__":
    main()
