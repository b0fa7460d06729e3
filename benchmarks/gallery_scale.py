"""Gallery index at scale: build time, query latency, memory and recall for 10k / 100k / 1M vectors.

Synthetic vectors (the index does not care where they come from): unit-length 128-d vectors
in clusters of 3 (a "person" with three photos) spread over the sphere, queried with noisy
copies of gallery vectors, with the number of neighbours gallery search asks for per query
(36 for --top-k 5). ``flat`` is exact, so its answers are the reference for ``hnsw``'s
recall. Memory is the growth of this process's resident set while the index is built and
the size of the index file.

    python benchmarks/gallery_scale.py                       # 10k, 100k, 1M; flat and hnsw
    python benchmarks/gallery_scale.py --sizes 10000 --kinds flat --threads 1
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dfrec.gallery import index as vindex  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    people = max(1, n // 3)
    centres = rng.standard_normal((people, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[np.arange(n) % people] + rng.standard_normal((n, dim), dtype=np.float32) * 0.05
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--kinds", default="flat,hnsw")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=36, help="neighbours per query (gallery search asks 4*top_k+16)")
    ap.add_argument("--threads", type=int, default=None, help="faiss OpenMP threads (default: all cores)")
    ap.add_argument("--hnsw-max", type=int, default=10**9, help="skip hnsw above this many vectors (its build is slow)")
    args = ap.parse_args(argv)
    faiss = vindex.faiss_module()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} thread(s), {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores", flush=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        x = vectors(n)
        rng = np.random.default_rng(1)
        qi = rng.integers(0, n, args.queries)
        q = x[qi] + rng.standard_normal((args.queries, x.shape[1]), dtype=np.float32) * 0.03
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        reference = None
        for kind in args.kinds.split(","):
            if kind == "hnsw" and n > args.hnsw_max:
                continue
            gc.collect()
            before = rss_mb()
            t0 = time.perf_counter()
            index = vindex.build_index(kind, x, np.arange(n, dtype=np.int64))
            build = time.perf_counter() - t0
            grown = rss_mb() - before
            vindex.search(index, q[:5], args.k)  # warm-up
            times, found = [], []
            for i in range(len(q)):
                t0 = time.perf_counter()
                found.append(vindex.search(index, q[i : i + 1], args.k)[1][0])
                times.append(time.perf_counter() - t0)
            ids = np.stack(found)
            single = float(np.median(times)) * 1e3  # median: robust to other processes on a shared machine
            p90 = float(np.percentile(times, 90)) * 1e3
            t0 = time.perf_counter()
            vindex.search(index, q, args.k)
            batch = (time.perf_counter() - t0) / len(q) * 1e3
            with tempfile.TemporaryDirectory() as d:
                size = vindex.write_index(index, Path(d) / "i.faiss").stat().st_size / 1e6
            if kind == "flat":
                reference = ids
            recall = float(np.mean(ids[:, 0] == reference[:, 0])) if reference is not None else float("nan")
            row = dict(n=n, kind=kind, build_s=build, query_ms=single, p90_ms=p90, batch_ms=batch, rss_mb=grown,
                       file_mb=size, recall1=recall)
            rows.append(row)
            print(f"{n:>9,} {kind:5s} build {build:8.2f} s  query {single:8.3f} ms (p90 {p90:.3f})  "
                  f"(batched {batch:7.3f} ms/query)  "
                  f"memory +{grown:7.1f} MB  file {size:7.1f} MB  recall@1 {recall:.3f}", flush=True)
            del index
        del x
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n| vectors | index | build | query, median (p90) | query in a batch of "
          f"{args.queries} | memory (RSS growth) | index file | top-1 agrees with exact |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['kind']} | {r['build_s']:.2f} s | {r['query_ms']:.2f} ms ({r['p90_ms']:.2f}) | "
              f"{r['batch_ms']:.3f} ms | {r['rss_mb']:.0f} MB | {r['file_mb']:.0f} MB | {r['recall1']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
