"""Benchmark DoRF parsing (issue 2 target: under 100 ms).

Times ``crfkit.data.read_dorf`` on ``dorfCurves.txt`` and ``dorfCurves.zip``
(found through ``--data``, ``CRFKIT_DATA`` or the user cache) against a
baseline measured in the same run: the line-by-line parse (every number line
through ``float()``), which is what the vectorised reader replaced.  Prints
best and median of ``--repeats`` after one warm-up read, and the ratio.

Usage (repository root)::

    python benchmarks/bench_parse.py [--repeats 7] [--json FILE]
"""

import argparse
import json
import statistics
import sys
import time


def _time(fn, repeats):
    fn()  # warm the file cache and imports
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out), statistics.median(out)


def _line_by_line(path):
    import numpy as np

    lines = path.read_text().splitlines()
    rows = [[float(v) for v in lines[i].split()] for i in range(5, len(lines), 6)]
    return np.array(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    from crfkit.data import find_data_file
    from crfkit.data.dorf import read_dorf
    from crfkit.errors import CrfkitError

    try:
        txt = find_data_file("dorfCurves.txt", download=False)
        zipped = find_data_file("dorfCurves.zip", download=False)
    except CrfkitError as exc:
        print(f"bench_parse: {exc}", file=sys.stderr)
        return 2
    n = len(read_dorf(txt))
    results = {
        "read_dorf txt": _time(lambda: read_dorf(txt), args.repeats),
        "read_dorf zip": _time(lambda: read_dorf(zipped), args.repeats),
        "line-by-line float() baseline, txt": _time(lambda: _line_by_line(txt), args.repeats),
    }
    base = results["line-by-line float() baseline, txt"][0]
    print(f"DoRF ({n} curves), best / median of {args.repeats}:")
    for name, (best, med) in results.items():
        print(f"  {name:38s} {best * 1e3:7.1f} ms / {med * 1e3:7.1f} ms   baseline/this {base / best:5.2f}x")
    met = results["read_dorf txt"][0] < 0.1
    print(f"target < 100 ms (txt, best): {'met' if met else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: {"best_s": v[0], "median_s": v[1]} for k, v in results.items()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
