"""Changes about PERCENT % of a media tree the way a day of uploads does: edits that many files in
place (new content, same name) and adds as many new ones of a similar size. Prints how many of
each."""
import os
import random
import sys

root, percent = sys.argv[1], float(sys.argv[2])
rng = random.Random(7)
files = sorted(
    os.path.join(directory, name)
    for directory, _, names in os.walk(root)
    for name in names
)
count = max(1, round(len(files) * percent / 100))
for path in rng.sample(files, count):
    size = os.path.getsize(path)
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))
sizes = [os.path.getsize(p) for p in files]
new_dir = os.path.join(root, "uploads", "new")
os.makedirs(new_dir, exist_ok=True)
for i in range(count):
    with open(os.path.join(new_dir, f"upload-{i:05d}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.choice(sizes)))
print(count, count)
