"""Which format a checkpoint file is, from its first bytes, and whether a torch zip stays within the limits
before anything reads it (declared pickle size, compressed members: zip bombs are refused unread).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .errors import CheckpointError
from .limits import ARCHIVE_ERRORS, MAX_INFLATED_BYTES, MAX_PICKLE_BYTES, open_regular


def sniff(path: Path) -> str:
    """'torch-zip', 'torch-legacy' or 'safetensors' from the first bytes; CheckpointError otherwise.

    A torch zip is also checked against the limits before anything reads it: declared sizes of the
    pickle and of compressed members (torch itself never compresses), so a zip bomb is refused unread."""
    with open_regular(path, CheckpointError) as fh:
        size = Path(path).stat().st_size
        head = fh.read(16)
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes): not a checkpoint")
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise CheckpointError(
                f"{path.name} is {what}, not a checkpoint (it only has a checkpoint's name)"
            )
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except ARCHIVE_ERRORS:
            raise CheckpointError(
                f"{path.name} is a truncated or corrupt zip archive (its central directory is missing); "
                "the save was probably interrupted: re-save or copy the file again"
            ) from None
        if not any(i.filename.endswith("data.pkl") for i in infos):
            raise CheckpointError(f"{path.name} is a zip archive but not a torch checkpoint (no data.pkl)")
        _check_zip(path, infos, size)
        return "torch-zip"
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len < size:
            return "safetensors"
    if head[:1] == b"\x80":
        if size > MAX_INFLATED_BYTES:
            raise CheckpointError(
                f"{path.name} is a legacy (non-zip) torch file of {size:,} bytes, which torch reads whole; "
                f"the limit is {MAX_INFLATED_BYTES:,} bytes: re-save it with a recent torch.save"
            )
        return "torch-legacy"
    raise CheckpointError(
        f"{path.name} is not a recognised checkpoint format (torch zip, safetensors or legacy pickle); "
        f"it starts with bytes {head[:8]!r}"
    )


def _check_zip(path: Path, infos: list[zipfile.ZipInfo], size: int) -> None:
    inflated = 0
    for info in infos:
        if info.filename.endswith("data.pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{path.name} declares a {info.file_size:,}-byte pickle ({info.filename}); real ones are "
                f"far smaller and the limit is {MAX_PICKLE_BYTES:,} bytes: refused"
            )
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size > size:
                raise CheckpointError(
                    f"{path.name} is a corrupt zip archive: {info.filename} claims {info.file_size:,} bytes "
                    f"in a {size:,}-byte file"
                )
            continue
        if "/data/" in info.filename:
            raise CheckpointError(
                f"{path.name} holds compressed tensor data ({info.filename}), which torch.save never writes "
                "(the archive was re-zipped): re-save it with torch.save"
            )
        inflated += info.file_size
    if inflated > MAX_INFLATED_BYTES:
        raise CheckpointError(
            f"{path.name} would inflate to {inflated:,} bytes, over the {MAX_INFLATED_BYTES:,}-byte limit "
            "(a zip bomb or a re-zipped checkpoint): refused"
        )


_FOREIGN_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x93NUMPY", "a NumPy .npy array (load it as probe data instead)"),
)
