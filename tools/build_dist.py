#!/usr/bin/env python3
"""Build dist/kubectl-reach: one executable file for hosts with python3 and kubectl only.

    python tools/build_dist.py [OUT]          (make dist)

Beside it: OUT.tar.gz (the file, for krew) and reach.yaml (plugins/reach.yaml with the
version and the archive's sha256 filled in).

A zipapp (PEP 441): the kubectl_reach package plus the pure-Python parts of its two
dependencies, sh (one module) and PyYAML (without its optional C extension, which it does
without), taken from the interpreter running this script. Python imports straight from the
zip: nothing is unpacked, no cache or writable home is needed. Entries are sorted and dated
1980-01-01, so the same sources give the same bytes.
"""
import gzip
import hashlib
import os
import sys
import tarfile
import zipfile
from importlib.machinery import PathFinder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = b'''import sys

try:
    from kubectl_reach.cli import main
except KeyboardInterrupt:   # Ctrl-C before reach has its own handling: no traceback either
    sys.exit(130)

sys.exit(main())
'''


def files():
    """(path in the archive, path on disk) for everything the single file holds."""
    lib = os.path.join(ROOT, "lib")
    for base, _, names in os.walk(lib):
        for name in names:
            if name.endswith((".py", ".json")):
                full = os.path.join(base, name)
                yield "kubectl_reach/" + os.path.relpath(full, lib).replace(os.sep, "/"), full
    # PathFinder looks on sys.path only: whatever sys.modules holds (a test double) does not count.
    sh = PathFinder.find_spec("sh")
    if sh is None or not sh.origin.endswith(".py"):
        sys.exit("build_dist: the pure-Python sh module is not importable here (pip install -r requirements.txt)")
    yield "sh.py", sh.origin
    yaml = PathFinder.find_spec("yaml")
    if yaml is None:
        sys.exit("build_dist: PyYAML is not importable here (pip install -r requirements.txt)")
    (directory,) = yaml.submodule_search_locations
    for name in os.listdir(directory):
        if name.endswith(".py"):  # not _yaml*.so: yaml falls back to pure Python without it
            yield "yaml/" + name, os.path.join(directory, name)


def build(out):
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(SHEBANG)
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            entries = sorted(files()) + [("__main__.py", None)]
            for arc, disk in entries:
                info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                if disk is None:
                    z.writestr(info, MAIN)
                else:
                    with open(disk, "rb") as src:
                        z.writestr(info, src.read())
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out, len(entries)


def krew_archive(path):
    """OUT.tar.gz holding the file as kubectl-reach; as reproducible as the file itself."""
    out = path + ".tar.gz"
    info = tarfile.TarInfo("kubectl-reach")
    info.size, info.mode, info.mtime = os.path.getsize(path), 0o755, 0
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar, open(path, "rb") as f:
            tar.addfile(info, f)
    return out


def krew_manifest(archive, version):
    with open(os.path.join(ROOT, "plugins", "reach.yaml"), encoding="utf-8") as f:
        text = f.read()
    with open(archive, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    out = os.path.join(os.path.dirname(archive), "reach.yaml")
    with open(out, "w", encoding="utf-8") as f:
        f.write(text.replace("@VERSION@", version).replace("@SHA256@", digest))
    return out


def version():
    with open(os.path.join(ROOT, "lib", "__init__.py"), encoding="utf-8") as f:
        return [line.split('"')[1] for line in f if line.startswith("__version__")][0]


if __name__ == "__main__":
    path, count = build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist", "kubectl-reach"))
    print("%s: %d files, %d bytes" % (os.path.relpath(path), count, os.path.getsize(path)))
    archive = krew_archive(path)
    print("%s, %s (krew)" % (os.path.relpath(archive), os.path.relpath(krew_manifest(archive, version()))))
