"""Spec loading with a catalog and local images: rows x ratios, preflight and hashing.

    .venv/bin/python bench/catalog_scale.py [--rows 5000] [--images 200] [--ratios 2]

Writes a temporary campaign (a CSV of ``--rows`` products naming ``--images``
distinct PNG shots) and times ``read_spec`` cold (every image read, checked and
hashed once) and the upload-free plan that follows. Prints jobs/s and images/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image

from seedrun.files import read_spec
from seedrun.lockfile import Lock
from seedrun.plan import plan


def write_campaign(folder: Path, rows: int, images: int, ratios: int) -> Path:
    (folder / "img").mkdir()
    for i in range(images):
        Image.new("RGB", (640, 480), (i % 256, (i * 7) % 256, 90)).save(folder / f"img/{i}.png")
    lines = ["sku,name,image"] + [f"S{r},Product {r},img/{r % images}.png" for r in range(rows)]
    (folder / "products.csv").write_text("\n".join(lines) + "\n")
    all_ratios = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"][:ratios]
    spec = folder / "spec.yaml"
    spec.write_text(
        "version: 1\njobs:\n  - name: spin\n"
        '    prompt: "Image 1 is the {{ name }}; it turns slowly."\n'
        '    media: [{file: "{{ image }}", role: reference_image}]\n'
        f"    matrix:\n      rows: {{file: products.csv, id: [sku]}}\n      ratio: {all_ratios}\n"
        'settings:\n  uploads: {url: "s3://bench-bucket/uploads"}\n'
    )
    return spec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--ratios", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = write_campaign(Path(tmp), args.rows, args.images, args.ratios)
        start = time.perf_counter()
        spec = read_spec(spec_path)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        items = plan(spec.jobs, Lock())
        planned = time.perf_counter() - start
    n = len(spec.jobs)
    print(f"{args.rows} rows x {args.ratios} ratios = {n} jobs, {len(spec.files)} images")
    print(f"read_spec (cold: preflight + sha256 of each image): {loaded:.2f} s, "
          f"{n / loaded:,.0f} jobs/s, {len(spec.files) / loaded:,.0f} images/s incl. expansion")
    print(f"plan: {planned:.3f} s for {len(items)} items")


if __name__ == "__main__":
    main()
