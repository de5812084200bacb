"""How fast lossdemos.parsing reads a million numbers (text, JSON) and a 512×32000 .npy upload.

    .venv/bin/python bench/parse_speed.py

Prints the best of five runs of each; never fails.
"""

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lossdemos.parsing import load_npy, parse_json_tensor, parse_tensor


def best(function, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((1000, 1000)).astype(np.float32)
    torch.set_printoptions(profile="full")
    texts = {
        "pasted torch output, 4 decimals": repr(torch.from_numpy(matrix)),
        "rows of numbers, 4 decimals": "\n".join(
            " ".join(f"{x:.4f}" for x in row) for row in matrix
        ),
        "JSON text, full float repr": json.dumps(matrix.astype(np.float64).tolist()),
    }
    torch.set_printoptions(profile="default")
    print("1,000,000 numbers (1000×1000):")
    for name, text in texts.items():
        seconds = best(lambda text=text: parse_tensor(text, field="logits"))
        print(f"  {name:34s} {len(text) / 1e6:5.1f} MB  {seconds * 1000:6.0f} ms")
    decoded = json.loads(texts["JSON text, full float repr"])
    seconds = best(lambda: parse_json_tensor(decoded, field="logits"))
    print(f"  {'decoded JSON lists':34s}           {seconds * 1000:6.0f} ms")

    big = rng.standard_normal((512, 32000)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, big)
    data = buffer.getvalue()
    writable = bytearray(data)
    print(f".npy of 512×32000 float32 ({len(data) / 1e6:.1f} MB):")
    print(f"  np.load                  {best(lambda: np.load(io.BytesIO(data))) * 1000:6.1f} ms")
    print(
        f"  load_npy(bytes)          {best(lambda: load_npy(data, field='logits')) * 1000:6.1f} ms"
    )
    print(
        f"  load_npy(bytearray)      {best(lambda: load_npy(writable, field='logits')) * 1000:6.1f} ms"
        "  (no copy)"
    )


if __name__ == "__main__":
    main()
