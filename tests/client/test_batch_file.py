"""The batch file reader: each line becomes the request its keys describe, and each mistake is
named by its line and key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from visionstudio.client.cli_batch_file import BatchFileError, read_batch_file
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.harness import png


def _file(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines))
    return path


def test_the_operation_is_named_or_inferred_and_every_key_reaches_the_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "mask.png").write_bytes(png((8, 8)))
    image = base64.b64encode(png((8, 8))).decode()
    items = read_batch_file(
        _file(
            tmp_path,
            {"item_id": "g", "prompt": "p", "aspect_ratio": "16:9", "quality": "high",
             "background": "transparent", "output_format": "webp", "partial_images": 2},
            "",
            {"item_id": "e", "prompt": "p", "image_url": "http://x/a.png", "number_of_images": 3},
            {"item_id": "i", "prompt": "p", "image_file": f"data:image/png;base64,{image}",
             "mask_path": "mask.png"},
            {"item_id": "b", "prompt": "p", "image_url": "u", "inpaint_border_only": True,
             "border_percentage": 0.25},
            {"item_id": "n", "operation": "generate", "prompt": "p"},
        )
    )  # fmt: skip
    assert [i.WhichOneof("request") for i in items] == [
        "generate",
        "edit",
        "inpaint",
        "inpaint",
        "generate",
    ]
    assert items[0].generate == pb.GenerateImageRequest(
        prompt="p",
        number_of_images=1,
        aspect_ratio=pb.ASPECT_RATIO_16_9,
        quality=pb.QUALITY_HIGH,
        background=pb.BACKGROUND_TRANSPARENT,
        output_format=pb.OUTPUT_FORMAT_WEBP,
        partial_images=2,
        include_data=True,  # the CLI saves every image
    )
    assert (items[1].edit.image_url, items[1].edit.number_of_images) == ("http://x/a.png", 3)
    assert items[2].inpaint.image_file == png((8, 8))
    assert items[2].inpaint.mask_file == (tmp_path / "mask.png").read_bytes()
    assert items[3].inpaint.border_percentage == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON: "),
        ("[1]", "line 2: must be a JSON object"),
        ({"prompt": "p"}, "line 2: item_id: is required"),
        ({"item_id": "a", "prompt": "p"}, "line 2: item_id: repeats line 1's"),
        ({"item_id": "b", "prompt": "p", "aspect_ratio": "5:4"}, "line 2: aspect_ratio: unknown"),
        ({"item_id": "b", "prompt": "p", "quality": "ultra"}, "line 2: quality: unknown value"),
        ({"item_id": "b", "prompt": "p", "number_of_images": "2"}, "number_of_images: must be an"),
        ({"item_id": "b", "prompt": "p", "number_of_images": 0}, "number_of_images: must be at"),
        ({"item_id": "b", "prompt": "p", "include_data": 1}, "include_data: must be true or"),
        ({"item_id": "b", "prompt": "p", "mask_url": "u"}, "image_url: inpaint needs image_url"),
        ({"item_id": "b", "prompt": "p", "image_path": "none.png"}, "image_path: cannot read"),
        ({"item_id": "b", "prompt": "p", "image_file": "!!"}, "image_file: is not valid base64"),
        ({"item_id": "b", "prompt": "p", "image_url": "u", "image_file": "aGk="}, "give only one"),
        ({"item_id": "b", "prompt": "p", "operation": "draw"}, "operation: must be one of"),
        ({"item_id": "b", "prompt": "p", "background": "auto", "image_url": "u",
          "mask_url": "m"}, "line 2: background: unknown key; inpaint takes"),
    ],
)  # fmt: skip
def test_a_mistake_names_its_line_and_key(tmp_path: Path, line: object, message: str) -> None:
    path = _file(tmp_path, {"item_id": "a", "prompt": "p"}, line)
    with pytest.raises(BatchFileError) as refused:
        read_batch_file(path)
    assert message in str(refused.value)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError, match="has no items"):
        read_batch_file(_file(tmp_path, "", "  "))
