"""The binary shortlist's speed against its FAISS anchor: ``bench/compress.py``'s ``speed()``
(200k synthetic 384-dim vectors, 1,000 queries, shortlist 100, 5 alternating rounds) of another
checkout, for running two checkouts back to back on one machine.

faiss-cpu left the dependencies with issue #19; to measure the anchor, check out the commit
before it beside this one and give that checkout faiss::

    git worktree add /tmp/old 1ef3c59
    .venv/bin/pip install faiss-cpu==1.15.1      # the anchor only; not a repspace dependency
    .venv/bin/python bench/compress_anchor.py /tmp/old
    .venv/bin/python bench/compress_anchor.py .

Each run prints one JSON line (the ``search_speed`` block of ``compress.json``);
``bench/results/compress-binary-anchor.json`` holds two such pairs.
"""

import json
import sys

if __name__ == "__main__":
    root = sys.argv[1]
    sys.path[:0] = [f"{root}/src", f"{root}/bench"]
    import compress  # that checkout's bench/compress.py

    print(json.dumps(compress.speed(200_000, 384, 1000, 100, 5)))
