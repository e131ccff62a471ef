"""``crfkit info``: versions, where the data was found, optional extras present."""

import json
import os
import platform

from ._common import write_output

EXTRAS = {
    "plot": ["matplotlib"],
    "torch": ["torch"],
    "charts": ["colour", "colour_checker_detection", "cv2", "imageio"],
    "raw": ["rawpy"],
    "exr": ["OpenEXR"],
}


def register(sub):
    p = sub.add_parser("info", help="versions, data locations, extras and plugins")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def collect():
    from importlib import metadata

    from .. import __version__
    from .._optional import available
    from ..data import ENV_VAR, cache_dir, data_report
    from ..models import MODELS
    from ..plugins import entry_points

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "crfkit": __version__,
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "scikit-learn": version("scikit-learn"),
        "CRFKIT_DATA": os.environ.get(ENV_VAR),
        "cache": str(cache_dir()),
        "data files": data_report(),
        "extras": {extra: all(available(m) for m in mods) for extra, mods in EXTRAS.items()},
        "models": sorted(MODELS),
        "plugins": {g: sorted(entry_points(g)) for g in ("crfkit.models", "crfkit.estimators", "crfkit.restoration")},
    }


def run(args):
    info = collect()
    if args.json:
        write_output(json.dumps(info, indent=2))
        return 0
    lines = [f"crfkit {info['crfkit']} (python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
             f"scikit-learn {info['scikit-learn']})"]
    lines.append(f"CRFKIT_DATA: {info['CRFKIT_DATA'] or '(not set)'}")
    lines.append(f"cache: {info['cache']}")
    lines.append("data files:")
    for name, where in info["data files"].items():
        lines.append(f"  {name:16s} {where or 'not found (set CRFKIT_DATA, or it is downloaded on first use)'}")
    lines.append("extras: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["extras"].items()))
    lines.append("models: " + ", ".join(info["models"]))
    for group, names in info["plugins"].items():
        lines.append(f"{group}: {', '.join(names) if names else '(none)'}")
    write_output("\n".join(lines))
    return 0
