"""Generate the Python modules and type stubs for the contract, or check they are fresh.

Usage: python tools/genproto.py [--check]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "client"
PACKAGE_DIR = Path("visionstudio/image/v1")
GENERATED = (
    "image_service_pb2.py",
    "image_service_pb2.pyi",
    "image_service_pb2_grpc.py",
    "image_service_pb2_grpc.pyi",
)


def generate(out: Path) -> None:
    bin_dir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        str(PACKAGE_DIR / "image_service.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if checked-in code is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = []
        for name in GENERATED:
            fresh = Path(tmp) / PACKAGE_DIR / name
            current = OUT_ROOT / PACKAGE_DIR / name
            if not current.exists() or not filecmp.cmp(fresh, current, shallow=False):
                stale.append(name)
                if not check:
                    shutil.copyfile(fresh, current)
    if check and stale:
        print(f"generated code is stale: {', '.join(stale)}; run `make proto`", file=sys.stderr)
        return 1
    print("generated code is fresh" if check else f"regenerated: {', '.join(stale) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
