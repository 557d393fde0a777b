#!/usr/bin/env python3
"""Rebuilds a deduplicated artifact (storage format 2) by hand, with stock `age` and `zstd`.

    python3 rebuild-artifact.py KEY ROOT BACKUP_DIR TREE > ARTIFACT

KEY is the exported recovery key, ROOT a copy of the target (a local folder, or a bucket's
prefix fetched with e.g. `aws s3 sync`), BACKUP_DIR the backup's directory below it
(`shop/production/20261129T020000Z-1a2b3c4d`) and TREE the tree's file name in it
(`media.tree.zst.age`). What it writes is the plain artifact: for media, the tar a full
backup holds. See docs/storage-format.md.
"""
import base64
import glob
import json
import os
import subprocess
import sys

key, root, backup_dir, tree_name = sys.argv[1:5]


def age_decrypt(sealed):
    return subprocess.run(["age", "-d", "-i", key], input=sealed, capture_output=True, check=True).stdout


def unseal(sealed):
    """age, then zstd: how trees and index objects are stored."""
    return subprocess.run(["zstd", "-d", "-q"], input=age_decrypt(sealed), capture_output=True, check=True).stdout


places = {}
for path in glob.glob(os.path.join(root, "_chunks", "index", "*")):
    try:
        index = json.loads(unseal(open(path, "rb").read()))
    except subprocess.CalledProcessError:
        continue  # encrypted to another recovery key
    for pack in index["packs"]:
        for blob in pack["blobs"]:
            places[blob["id"]] = (pack["name"], blob["offset"], blob["length"])

tree = json.loads(unseal(open(os.path.join(root, backup_dir, tree_name), "rb").read()))
out = sys.stdout.buffer
# A pack is one age file of zstd-compressed blobs; a tree's blobs mostly follow each other in
# a pack, so the last pack decrypted is kept.
opened = (None, b"")
for piece in tree["pieces"]:
    if piece["kind"] == "bytes":
        out.write(base64.b64decode(piece["data"]))
        continue
    name, offset, length = places[piece["id"]]
    if opened[0] != name:
        with open(os.path.join(root, "_chunks", "packs", name[:2], name), "rb") as pack:
            opened = (name, age_decrypt(pack.read()))
    blob = opened[1][offset:offset + length]
    out.write(subprocess.run(["zstd", "-d", "-q"], input=blob, capture_output=True, check=True).stdout)
