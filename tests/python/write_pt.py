"""Writes a safetensors state dict as a PyTorch `.pt` file (torch.save's zip format) without
PyTorch installed: the pickle names `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage`
as torch.save does, with each tensor's bytes in `archive/data/<key>`.

    python3 write_pt.py IN.safetensors OUT.pt

Lets the tests check `kiln import` of a `.pt` file on machines without PyTorch.
"""
import collections
import io
import pickle
import sys
import types
import zipfile

from safetensors.numpy import load_file

# Stand-ins with torch's names, so that pickle records the globals torch.save would.
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*args):
    raise NotImplementedError


class FloatStorage:
    pass


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
FloatStorage.__module__ = "torch"
FloatStorage.__qualname__ = "FloatStorage"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
torch.FloatStorage = FloatStorage
torch._utils = torch_utils
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride, acc = [], 1
        for dim in reversed(self.shape):
            stride.insert(0, acc)
            acc *= dim
        return (_rebuild_tensor_v2,
                (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def main():
    source, target = sys.argv[1], sys.argv[2]
    tensors = load_file(source)
    state = collections.OrderedDict()
    blobs = {}
    for i, (name, array) in enumerate(sorted(tensors.items())):
        key = str(i)
        blobs[key] = array.astype("<f4").tobytes()
        state[name] = Tensor(Storage(key, array.size), list(array.shape))
    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buffer.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, blob in blobs.items():
            z.writestr(f"archive/data/{key}", blob)
        z.writestr("archive/version", "3\n")


if __name__ == "__main__":
    main()
