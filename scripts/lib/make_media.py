"""Writes a synthetic media tree: COUNT files of mixed sizes adding up to about TOTAL MiB, in
nested directories, half of them compressible text and half random bytes."""
import os
import random
import sys

root, count, total_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
weights = [rng.paretovariate(1.2) for _ in range(count)]
scale = total_mib * 1024 * 1024 / sum(weights)
for i, weight in enumerate(weights):
    directory = os.path.join(root, f"uploads/{i % 37:02d}/{i % 11:02d}")
    os.makedirs(directory, exist_ok=True)
    size = int(weight * scale)
    with open(os.path.join(directory, f"file-{i:05d}.bin"), "wb") as f:
        if i % 2:
            f.write(rng.randbytes(size))
        else:
            line = f"media line for file {i} — naïve café\n".encode()
            f.write((line * (size // len(line) + 1))[:size])
