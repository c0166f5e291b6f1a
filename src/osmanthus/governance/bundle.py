"""A policy bundle: every file of a policy directory, as one content-hashed document.

A bundle is what is proposed, approved and stored in the ledger: the version files, the
charter and its registry of legal instruments, and the authors' tests. Its content hash
is the SHA-256 of its canonical JSON (file names sorted, UTF-8, no spaces), so the same
files give the same hash on any machine. To load or test it, the bundle is written to a
temporary directory and read by the same loader as a directory of files.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from osmanthus.errors import PolicyError
from osmanthus.policy import PolicySet, load_policy
from osmanthus.policy.charter import CHARTER_FILE, INSTRUMENTS_FILE

__all__ = ["GOVERNING", "Bundle"]

#: The files that govern every version: a change to one needs two approvers.
GOVERNING = (CHARTER_FILE, INSTRUMENTS_FILE)
_LARGEST = 4 << 20  # bytes of one file


@dataclass(frozen=True)
class Bundle:
    """File name (``2020-01-01.toml``, ``charter.toml``, ``tests/cases.toml``) to text."""

    files: dict[str, str]

    @classmethod
    def from_folder(cls, folder: Path) -> Bundle:
        """The policy directory ``folder`` as a bundle: its ``*.toml`` files and those
        of its ``tests/`` folder."""
        if not folder.is_dir():
            raise PolicyError(f"{folder}: not a policy directory")
        paths = sorted(folder.glob("*.toml")) + sorted((folder / "tests").glob("*.toml"))
        files = {}
        for path in paths:
            name = path.relative_to(folder).as_posix()
            if path.stat().st_size > _LARGEST:
                raise PolicyError(f"{name}: larger than {_LARGEST >> 20} MiB")
            try:
                files[name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyError(f"{name}: expected UTF-8 text ({exc.reason})") from None
        bundle = cls(files)
        bundle.check_names()
        return bundle

    @classmethod
    def from_json(cls, text: str) -> Bundle:
        bundle = cls(dict(json.loads(text)["files"]))
        bundle.check_names()
        return bundle

    def check_names(self) -> None:
        """Refuse a file name that could leave the bundle's folder when written."""
        for name in self.files:
            parts = PurePosixPath(name).parts
            simple = len(parts) == 1 or (len(parts) == 2 and parts[0] == "tests")
            if not simple or not name.endswith(".toml") or any(p in ("", ".", "..") for p in parts):
                raise PolicyError(
                    f"{name!r}: not a policy file name (NAME.toml or tests/NAME.toml)"
                )

    def canonical(self) -> str:
        return json.dumps(
            {"files": self.files}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    @property
    def versions(self) -> dict[str, str]:
        """The version files (top level, not the charter or the registry)."""
        return {
            name: text
            for name, text in self.files.items()
            if "/" not in name and name not in GOVERNING
        }

    def governing(self) -> dict[str, str | None]:
        return {name: self.files.get(name) for name in GOVERNING}

    @contextmanager
    def materialised(self) -> Iterator[Path]:
        """The bundle written to a temporary directory, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="osmanthus-policy-") as folder:
            root = Path(folder)
            (root / "tests").mkdir()
            for name, text in self.files.items():
                (root / name).write_text(text, encoding="utf-8")
            yield root

    def load(self) -> PolicySet:
        """The bundle's policy, loaded and checked against its charter."""
        with self.materialised() as folder:
            return load_policy(folder)
