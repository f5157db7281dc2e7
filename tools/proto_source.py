"""The contract as protoc sees it: its descriptor with source comments, and walks over it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PROTO_FILE = "visionstudio/image/v1/image_service.proto"

# Field numbers used in SourceCodeInfo.Location paths (see descriptor.proto).
FILE_PACKAGE = 2
FILE_MESSAGE = 4
FILE_ENUM = 5
FILE_SERVICE = 6
MESSAGE_FIELD = 2
MESSAGE_NESTED = 3
MESSAGE_ENUM = 4
MESSAGE_ONEOF = 8
ENUM_VALUE = 2
SERVICE_METHOD = 2

SCALARS = {
    d.FieldDescriptorProto.TYPE_DOUBLE: "double",
    d.FieldDescriptorProto.TYPE_FLOAT: "float",
    d.FieldDescriptorProto.TYPE_INT64: "int64",
    d.FieldDescriptorProto.TYPE_UINT64: "uint64",
    d.FieldDescriptorProto.TYPE_INT32: "int32",
    d.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    d.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    d.FieldDescriptorProto.TYPE_BOOL: "bool",
    d.FieldDescriptorProto.TYPE_STRING: "string",
    d.FieldDescriptorProto.TYPE_BYTES: "bytes",
    d.FieldDescriptorProto.TYPE_UINT32: "uint32",
    d.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    d.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    d.FieldDescriptorProto.TYPE_SINT32: "sint32",
    d.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def descriptor() -> d.FileDescriptorProto:
    """The contract's FileDescriptorProto, comments included."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or spec.origin is None:
        raise SystemExit("grpcio-tools is not installed; run `make install`")
    well_known = Path(spec.origin).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "contract.binpb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO_ROOT}",
                f"-I{well_known}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                PROTO_FILE,
            ],
            check=True,
        )
        files = d.FileDescriptorSet.FromString(out.read_bytes())
    (file,) = files.file
    return file


@dataclass(frozen=True)
class Comments:
    by_path: dict[tuple[int, ...], str]

    @classmethod
    def of(cls, file: d.FileDescriptorProto) -> Comments:
        by_path = {}
        for loc in file.source_code_info.location:
            text = "\n\n".join(
                part
                for part in (_dedent(loc.leading_comments), _dedent(loc.trailing_comments))
                if part
            )
            if text:
                by_path[tuple(loc.path)] = text
        return cls(by_path)

    def block(self, path: Sequence[int]) -> str:
        """The comment as Markdown paragraphs."""
        return self.by_path.get(tuple(path), "")

    def cell(self, path: Sequence[int]) -> str:
        """The comment on one line, for a table cell."""
        paragraphs = self.block(path).split("\n\n")
        return "<br><br>".join(" ".join(p.split()) for p in paragraphs).replace("|", "\\|")


def _dedent(comment: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Named:
    """A message or enum with its dotted name inside the package and its comment path."""

    name: str
    path: tuple[int, ...]


def walk_messages(
    messages: Sequence[d.DescriptorProto], prefix: str, path: tuple[int, ...], kind: int
) -> Iterator[tuple[Named, d.DescriptorProto]]:
    for i, msg in enumerate(messages):
        here = (*path, kind, i)
        name = f"{prefix}{msg.name}"
        if msg.options.map_entry:
            continue
        yield Named(name, here), msg
        yield from walk_messages(msg.nested_type, f"{name}.", here, MESSAGE_NESTED)


def walk_enums(file: d.FileDescriptorProto) -> Iterator[tuple[Named, d.EnumDescriptorProto]]:
    for i, enum in enumerate(file.enum_type):
        yield Named(enum.name, (FILE_ENUM, i)), enum
    for named, msg in walk_messages(file.message_type, "", (), FILE_MESSAGE):
        for i, enum in enumerate(msg.enum_type):
            yield Named(f"{named.name}.{enum.name}", (*named.path, MESSAGE_ENUM, i)), enum


def anchor(name: str) -> str:
    """GitHub's anchor for a heading made of `name`."""
    return "#" + "".join(c for c in name.lower() if c.isalnum() or c in "-_")
