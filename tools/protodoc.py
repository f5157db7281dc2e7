"""Render the contract's Markdown reference from the proto comments, or check it is fresh.

Usage: python tools/protodoc.py [--check]

protoc (from grpcio-tools) compiles the proto with its source info into a descriptor set; the
services, messages, fields and enums are written to docs/api-reference.md with their comments.
"""

from __future__ import annotations

import argparse
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
OUT = ROOT / "docs" / "api-reference.md"

# Field numbers used in SourceCodeInfo.Location paths (see descriptor.proto).
_FILE_PACKAGE = 2
_FILE_MESSAGE = 4
_FILE_ENUM = 5
_FILE_SERVICE = 6
_MESSAGE_FIELD = 2
_MESSAGE_NESTED = 3
_MESSAGE_ENUM = 4
_MESSAGE_ONEOF = 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2

_SCALARS = {
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


def _messages(
    messages: Sequence[d.DescriptorProto], prefix: str, path: tuple[int, ...], kind: int
) -> Iterator[tuple[Named, d.DescriptorProto]]:
    for i, msg in enumerate(messages):
        here = (*path, kind, i)
        name = f"{prefix}{msg.name}"
        if msg.options.map_entry:
            continue
        yield Named(name, here), msg
        yield from _messages(msg.nested_type, f"{name}.", here, _MESSAGE_NESTED)


def _enums(file: d.FileDescriptorProto) -> Iterator[tuple[Named, d.EnumDescriptorProto]]:
    for i, enum in enumerate(file.enum_type):
        yield Named(enum.name, (_FILE_ENUM, i)), enum
    for named, msg in _messages(file.message_type, "", (), _FILE_MESSAGE):
        for i, enum in enumerate(msg.enum_type):
            yield Named(f"{named.name}.{enum.name}", (*named.path, _MESSAGE_ENUM, i)), enum


def _anchor(name: str) -> str:
    """GitHub's anchor for a heading made of `name`."""
    return "#" + "".join(c for c in name.lower() if c.isalnum() or c in "-_")


class Renderer:
    def __init__(self, file: d.FileDescriptorProto) -> None:
        self.file = file
        self.comments = Comments.of(file)
        self.prefix = f".{file.package}."
        self.messages = list(_messages(file.message_type, "", (), _FILE_MESSAGE))
        self.enums = list(_enums(file))
        self.map_entries = {
            f"{self.prefix}{named.name}.{nested.name}": nested
            for named, msg in self.messages
            for nested in msg.nested_type
            if nested.options.map_entry
        }

    def type_link(self, type_name: str) -> str:
        if type_name.startswith(self.prefix):
            local = type_name.removeprefix(self.prefix)
            return f"[`{local}`]({_anchor(local)})"
        return f"`{type_name.lstrip('.')}`"

    def field_type(self, field: d.FieldDescriptorProto) -> str:
        if field.type_name in self.map_entries:
            key, value = self.map_entries[field.type_name].field
            return f"map<{self.field_type(key)}, {self.field_type(value)}>"
        if field.type in (
            d.FieldDescriptorProto.TYPE_MESSAGE,
            d.FieldDescriptorProto.TYPE_ENUM,
        ):
            base = self.type_link(field.type_name)
        else:
            base = f"`{_SCALARS[field.type]}`"
        if field.label == d.FieldDescriptorProto.LABEL_REPEATED:
            return f"repeated {base}"
        if field.proto3_optional:
            return f"optional {base}"
        return base

    def render(self) -> str:
        file = self.file
        out = [
            f"# `{file.package}` API reference",
            "",
            f"<!-- Generated by tools/protodoc.py from protos/{file.name}; do not edit. "
            "Run `make docs` after changing the proto. -->",
            "",
            f"Generated from [`protos/{file.name}`](../protos/{file.name}) "
            f"(package `{file.package}`) by `make docs`.",
            "",
        ]
        package_doc = self.comments.block((_FILE_PACKAGE,))
        if package_doc:
            out += [package_doc, ""]
        out += self.contents()
        for i, service in enumerate(file.service):
            out += self.service(service, (_FILE_SERVICE, i))
        out += ["## Messages", ""]
        for named, msg in self.messages:
            out += self.message(named, msg)
        out += ["## Enums", ""]
        for named, enum in self.enums:
            out += self.enum(named, enum)
        return "\n".join(out).rstrip("\n") + "\n"

    def contents(self) -> list[str]:
        def links(names: list[str]) -> str:
            return ", ".join(f"[`{n}`]({_anchor(n)})" for n in names)

        return [
            "## Contents",
            "",
            f"- Services: {links([s.name for s in self.file.service])}",
            f"- Messages: {links([n.name for n, _ in self.messages])}",
            f"- Enums: {links([n.name for n, _ in self.enums])}",
            "",
        ]

    def service(self, service: d.ServiceDescriptorProto, path: tuple[int, ...]) -> list[str]:
        full = f"{self.file.package}.{service.name}"
        out = [f"## {service.name}", "", f"Full name: `{full}`.", ""]
        doc = self.comments.block(path)
        if doc:
            out += [doc, ""]
        for i, method in enumerate(service.method):
            req = self.type_link(method.input_type)
            res = self.type_link(method.output_type)
            req = f"stream {req}" if method.client_streaming else req
            res = f"stream {res}" if method.server_streaming else res
            out += [
                f"### {service.name}.{method.name}",
                "",
                f"`/{full}/{method.name}`: {req} → {res}",
                "",
            ]
            doc = self.comments.block((*path, _SERVICE_METHOD, i))
            if doc:
                out += [doc, ""]
        return out

    def message(self, named: Named, msg: d.DescriptorProto) -> list[str]:
        out = [f"### {named.name}", ""]
        doc = self.comments.block(named.path)
        if doc:
            out += [doc, ""]
        real_oneofs = {
            f.oneof_index for f in msg.field if f.HasField("oneof_index") and not f.proto3_optional
        }
        if not msg.field:
            return [*out, "No fields.", ""]
        out += ["| Field | Type | Number | Description |", "|---|---|---|---|"]
        for i, field in enumerate(msg.field):
            desc = self.comments.cell((*named.path, _MESSAGE_FIELD, i))
            if field.oneof_index in real_oneofs and field.HasField("oneof_index"):
                oneof = msg.oneof_decl[field.oneof_index].name
                desc = f"*Oneof `{oneof}`.* {desc}"
            out.append(f"| `{field.name}` | {self.field_type(field)} | {field.number} | {desc} |")
        out.append("")
        if real_oneofs:
            out += [f"Oneofs of `{named.name}`:", ""]
            for index in sorted(real_oneofs):
                members = ", ".join(
                    f"`{f.name}`"
                    for f in msg.field
                    if f.HasField("oneof_index") and f.oneof_index == index
                )
                doc = self.comments.cell((*named.path, _MESSAGE_ONEOF, index))
                line = f"- `{msg.oneof_decl[index].name}` (at most one of {members})"
                out.append(f"{line}: {doc}" if doc else line)
            out.append("")
        return out

    def enum(self, named: Named, enum: d.EnumDescriptorProto) -> list[str]:
        out = [f"### {named.name}", ""]
        doc = self.comments.block(named.path)
        if doc:
            out += [doc, ""]
        out += ["| Name | Number | Description |", "|---|---|---|"]
        for i, value in enumerate(enum.value):
            desc = self.comments.cell((*named.path, _ENUM_VALUE, i))
            out.append(f"| `{value.name}` | {value.number} | {desc} |")
        return [*out, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the reference is stale")
    check = parser.parse_args().check
    text = Renderer(descriptor()).render()
    current = OUT.read_text(encoding="utf-8") if OUT.exists() else None
    if check:
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale; run `make docs`", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)} is fresh")
        return 0
    if current != text:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")
    else:
        print(f"{OUT.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
