import gc
import json
import struct

import numpy as np
import pytest

import subq


def write_safetensors(path, tensors, metadata=None):
    """Pure-Python writer: tensors is {name: (dtype name, shape, raw bytes)}."""
    header, data = {}, b""
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


@pytest.fixture
def sample(tmp_path, rng):
    w = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal(7).astype(np.float16)
    ids = np.arange(-4, 4, dtype=np.int64).reshape(2, 4)
    u8 = np.arange(6, dtype=np.uint8)
    bf = subq.to_bf16(rng.standard_normal((2, 3)).astype(np.float32))
    fp8 = bytes(range(4))
    tensors = {"w": ("F32", w.shape, w.tobytes()), "h": ("F16", h.shape, h.tobytes()),
               "ids": ("I64", ids.shape, ids.tobytes()), "u8": ("U8", u8.shape, u8.tobytes()),
               "bf": ("BF16", bf.shape, bf.bits.tobytes()), "fp8": ("F8_E4M3", (4,), fp8),
               "empty": ("F32", (0, 3), b""), "scalar": ("I32", (), struct.pack("<i", 42))}
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors, {"format": "pt", "note": "héllo"})
    return path, {"w": w, "h": h, "ids": ids, "u8": u8, "bf": bf.bits}


@pytest.mark.parametrize("no_mmap", [False, True])
def test_read_file_and_dir(sample, no_mmap):
    path, ref = sample
    for p in (path, path.parent, str(path)):
        with subq.SafetensorsFile(p, no_mmap=no_mmap) as st:
            assert len(st) == 8 and "w" in st and "nope" not in st
            assert st.names()[:2] == ["w", "h"]  # offset order
            for name, r in ref.items():
                a = st.tensor(name)
                assert a.dtype == r.dtype and a.shape == r.shape and np.array_equal(a, r)
                assert not a.flags.writeable
            info = st.info("bf")
            assert info[:5] == ("bf", "BF16", (2, 3), 12, 0)
            assert st.info("w").file_offset == 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]
            bf = subq.BF16Array(st.tensor("bf"))
            assert np.array_equal(subq.from_bf16(bf), subq.from_bf16(subq.BF16Array(ref["bf"])))
            assert st.tensor("empty").shape == (0, 3)
            assert st.tensor("scalar").shape == () and st.tensor("scalar") == 42
            assert bytes(st.raw("fp8")) == bytes(range(4))
            with pytest.raises(ValueError, match="F8_E4M3"):
                st.tensor("fp8")
            assert st.metadata() == {"format": "pt", "note": "héllo"}
            assert len(st.files()) == 1
            with pytest.raises(subq.SubQError, match="nope"):
                st.tensor("nope")


def test_views_outlive_close(sample):
    path, ref = sample
    st = subq.SafetensorsFile(path)
    a = st.tensor("w")
    st.close()
    with pytest.raises(ValueError, match="after close"):
        st.tensor("w")
    del st
    gc.collect()
    assert np.array_equal(a, ref["w"])  # the mapping lives while a view does
    b = a[1:]
    del a
    gc.collect()
    assert np.array_equal(b, ref["w"][1:])


def test_bad_files(tmp_path):
    p = tmp_path / "bad.safetensors"
    write_safetensors(p, {"w": ("F32", (4, 8), b"\0" * 64)})  # 64 bytes for 128 needed
    with pytest.raises(subq.SubQError, match="w"):
        subq.SafetensorsFile(p)
    p.write_bytes(b"\x01\x00")
    with pytest.raises(subq.SubQError):
        subq.SafetensorsFile(p)
    with pytest.raises(subq.SubQError):
        subq.SafetensorsFile(tmp_path / "missing.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(subq.SubQError):  # a directory without model.safetensors or an index
        subq.SafetensorsFile(tmp_path / "empty")


def test_from_bytes_matches_the_file(sample):
    path, ref = sample
    image = bytearray(path.read_bytes())
    for data in (bytes(image), image, memoryview(image), np.frombuffer(bytes(image), np.uint8)):
        with subq.SafetensorsFile.from_bytes(data) as st:
            assert st.names() == subq.SafetensorsFile(path).names()
            assert np.array_equal(st.tensor("w"), ref["w"]) and np.array_equal(st.tensor("ids"), ref["ids"])
            assert st.metadata() == {"format": "pt", "note": "héllo"}
            assert st.files() == ["<memory>"]
    st = subq.SafetensorsFile.from_bytes(image)
    w = st.tensor("w")
    image[:] = b"\0" * len(image)  # SubQ copied the image: the source may change or go
    del image
    gc.collect()
    assert np.array_equal(w, ref["w"]) and np.array_equal(st.tensor("h"), ref["h"])


def test_from_bytes_errors(sample):
    path, _ = sample
    with pytest.raises(subq.SubQError, match="<memory>"):
        subq.SafetensorsFile.from_bytes(b"")
    with pytest.raises(subq.SubQError, match="<memory>"):
        subq.SafetensorsFile.from_bytes(path.read_bytes()[:-4])  # truncated data section
    with pytest.raises(TypeError, match="bytes-like"):
        subq.SafetensorsFile.from_bytes("not bytes")
    with pytest.raises(TypeError, match="C-contiguous"):
        subq.SafetensorsFile.from_bytes(memoryview(bytearray(64))[::2])
