"""The CIFAR-10 JPEG copy in a third of the bytes, restored bit for bit.

Copied from the project's shared data folder (`../shared/data/cifar10/jpeg_pack.py`, beside
`cifar10-jpg.pack`), so that a GPU machine given only this repository and the pack can unpack it;
standard library only. The format is unchanged. One change: `unpack` checks the sha256 over the
restored files before it writes any of them (the original writes, then checks), so a damaged
pack leaves nothing behind; its errors are `PackError`s (one line; exit status 1 from the command
line, as before).

Every file in cifar10-jpg.zip starts with the same 623 bytes (the JPEG header: quantisation and
Huffman tables, frame and scan headers); only the entropy-coded rest differs. A pack stores that
header once and each file's rest after it (a file with another header is stored whole), then a
sha256 over every (path, bytes) pair, which unpacking checks.

    python3 jpeg_pack.py pack cifar10-jpg.zip cifar10-jpg.pack
    python3 jpeg_pack.py unpack cifar10-jpg.pack DIR      # DIR/train/<class>/NNNN.jpg, DIR/test/...
"""

import hashlib
import struct
import sys
import zipfile
from pathlib import Path

MAGIC = b"JPGPACK1"


class PackError(Exception):
    """A file that is not a pack, or one whose contents do not match its sha256."""


def common_header(sample: bytes) -> bytes:
    """The bytes up to the end of the scan header (SOS marker, its length field, its body)."""
    sos = sample.find(b"\xff\xda")
    length = struct.unpack(">H", sample[sos + 2 : sos + 4])[0]
    return sample[: sos + 2 + length]


def pack(zip_path: str, out: str) -> None:
    z = zipfile.ZipFile(zip_path)
    names = sorted(i.filename for i in z.infolist() if not i.is_dir())
    header = common_header(z.read(next(n for n in names if n.endswith(".jpg"))))
    digest = hashlib.sha256()
    with open(out + ".part", "wb") as f:
        f.write(MAGIC + struct.pack(">I", len(header)) + header + struct.pack(">I", len(names)))
        for name in names:
            data = z.read(name)
            digest.update(name.encode() + b"\0" + data)
            shared = data.startswith(header)
            body = data[len(header) :] if shared else data
            path = name.encode()
            f.write(struct.pack(">BHI", shared, len(path), len(body)) + path + body)
        f.write(digest.digest())
    Path(out + ".part").rename(out)
    print(f"{len(names)} files, {Path(out).stat().st_size:,} bytes, sha256 {digest.hexdigest()}")


def read(pack_path: str) -> tuple[list[tuple[str, bytes]], str]:
    """Every (path, bytes) in the pack, checked against its sha256, and that sha256."""
    data = Path(pack_path).read_bytes()
    if not data.startswith(MAGIC):
        raise PackError(f"{pack_path} is not a JPEG pack")
    at = len(MAGIC)
    (n,) = struct.unpack(">I", data[at : at + 4])
    header = data[at + 4 : at + 4 + n]
    at += 4 + n
    (count,) = struct.unpack(">I", data[at : at + 4])
    at += 4
    digest, files = hashlib.sha256(), []
    for _ in range(count):
        shared, plen, blen = struct.unpack(">BHI", data[at : at + 7])
        at += 7
        name = data[at : at + plen].decode()
        body = data[at + plen : at + plen + blen]
        at += plen + blen
        content = header + body if shared else body
        digest.update(name.encode() + b"\0" + content)
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise PackError(f"unsafe path in pack: {name}")
        files.append((name, content))
    if digest.digest() != data[at : at + 32]:
        raise PackError("pack damaged: sha256 over the restored files does not match")
    return files, digest.hexdigest()


def unpack(pack_path: str, dest: str) -> int:
    """The pack's files written under ``dest`` once all of them are checked; how many."""
    files, digest = read(pack_path)
    root = Path(dest)
    for name, content in files:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    print(f"{len(files)} files restored into {dest}, sha256 {digest} checked")
    return len(files)


if __name__ == "__main__":
    verb, src, dst = sys.argv[1:4]
    try:
        {"pack": pack, "unpack": unpack}[verb](src, dst)
    except PackError as exc:
        sys.exit(str(exc))
