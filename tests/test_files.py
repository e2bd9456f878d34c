"""Reading helpers: gzip-aware text opening and file digests."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from embedlab.files import hash_file_into, open_text, sha256_file


@pytest.mark.parametrize("name", ["words.txt", "words.txt.gz"])
def test_open_text_reads_plain_and_gzipped_utf8(tmp_path, name):
    content = "naïve café\nsecond line\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(content.encode()) if name.endswith(".gz") else content.encode())
    with open_text(path) as handle:
        assert handle.read() == content


def test_a_damaged_gzip_fails_on_reading_with_an_oserror(tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_text("not gzip")
    with pytest.raises(OSError), open_text(path) as handle:
        handle.read()


def test_sha256_file_matches_hashlib_across_blocks(tmp_path):
    content = bytes(range(256)) * 9000  # more than one read block
    path = tmp_path / "blob.bin"
    path.write_bytes(content)
    assert sha256_file(path) == hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256(b"prefix")
    hash_file_into(digest, path)
    assert digest.hexdigest() == hashlib.sha256(b"prefix" + content).hexdigest()
