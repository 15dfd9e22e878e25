"""Generate hand-drawing-like Fashion-MNIST drawings, as OUTLINES and FILLED (issue #12).

    python scripts/make_fashion_drawings.py [FOLDER] [--per-class N] [--seed S]

Each of the 10 classes has a template drawn the way a person draws it on the canvas (a shirt has
a collar and buttons, a coat a zip and long sleeves, a sandal straps over a sole, a bag a box and
a handle...). Every picture varies its proportions, size, position and tilt, makes the lines
wobble like a hand, rounds the corners and leaves some outlines a little open or overshot; it is
drawn like the canvas does: white round-capped anti-aliased strokes, 26 px wide (the canvas's
18-px brush), on a black 560x560 picture. Each shape is saved twice: the outline only, and filled
(the silhouette filled, as the canvas's fill tool would, plus the same strokes).

Files: ``<label>_<class>_<outline|filled>_<nn>.png``; deterministic (one seeded generator per
shape). Test data: written to /tmp by default, never committed. The templates and the drawing
live in ``training.learn.drawn_sets`` (the "doesn't look like a garment" check is fitted and measured
on them too); this script writes its "canvas" family, issue #12's set, as files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from training.learn.drawn_sets import CLASS_NAMES, PEN, SIDE, TEMPLATES, VERSIONS, draw_shape, slug

__all__ = ["CLASS_NAMES", "PEN", "SIDE", "TEMPLATES", "VERSIONS", "draw_shape", "slug",
           "generate", "read_folder"]

DEFAULT_FOLDER = Path("/tmp/fashion-drawings")


def generate(folder: Path = DEFAULT_FOLDER, per_class: int = 10, seed: int = 0) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for label in range(len(CLASS_NAMES)):
        for index in range(per_class):
            for version, grey in draw_shape(label, index, seed).items():
                path = folder / f"{label}_{slug(label)}_{version}_{index:02d}.png"
                Image.fromarray(grey).save(path)
                written.append(path)
    return written


def read_folder(folder: Path = DEFAULT_FOLDER) -> list[tuple[Path, int, str]]:
    """(path, label, version) of every picture in ``folder``, sorted."""
    out = []
    for path in sorted(Path(folder).glob("*.png")):
        label, _, version, _ = path.stem.split("_")
        out.append((path, int(label), version))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = generate(args.folder, args.per_class, args.seed)
    print(f"{len(written)} pictures in {args.folder}")


if __name__ == "__main__":
    main()
