"""``dfrec gallery``: index known faces (add), describe (info), remove, and search a gallery."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dfrec.cli.args import ranged, device_name
from dfrec.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gallery",
        help="a searchable gallery of known faces: add, info, remove, search",
        description="A gallery names the people behind recovered faces: `dfrec recover INPUT --gallery G` "
                    "lists the most similar known people for every recovered source and target. "
                    "See docs/gallery.md.",
    )
    sub = p.add_subparsers(dest="gallery_command", metavar="ACTION")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    q = sub.add_parser("add", help="index the photos of known people (re-running adds only new files)",
                       description="Detect, align and embed one face per photo and store it in the gallery G "
                                   "(created when missing): SOURCE is a folder with one sub-folder per person "
                                   "(the sub-folder's name is the person's name) or a CSV file of path,name rows. "
                                   "Files the gallery has seen before (same person, same SHA-256) are skipped, "
                                   "including files that gave no face.")
    q.add_argument("source", metavar="SOURCE", help="folder with one sub-folder per person, or a CSV of path,name")
    _gallery_arg(q)
    q.add_argument("--index", choices=("flat", "hnsw"), default=None,
                   help="index type of a new gallery: flat = exact search (default), hnsw = approximate, "
                        "faster on very large galleries; given for an existing gallery, rebuilds its index")
    q.add_argument("--face", choices=("largest", "central"), default="largest",
                   help="which face of a photo with several (default: largest)")
    q.add_argument("--device", default="auto", type=device_name, help="auto, cpu, cuda, cuda:1, ... (default: auto)")
    q.add_argument("--batch-size", type=ranged(int, 1, 4096), default=32, metavar="N",
                   help="photos embedded and committed together, 1-4096 (default 32)")
    q.add_argument("--json", action="store_true", help="print the summary as JSON")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=run_add)

    q = sub.add_parser("info", help="what a gallery holds: people, photos, index type, threshold")
    _gallery_arg(q)
    q.add_argument("--persons", action="store_true", help="also list every person and their photo count")
    q.add_argument("--skipped", action="store_true", help="also list files that gave no face, with the reason")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_info)

    q = sub.add_parser("remove", help="remove a person, or photos by file, from a gallery",
                       description="Remove every photo of --person NAME, or the photos made from --file PATH "
                                   "(matched by the file's SHA-256, so a moved copy works too) or --sha256 HASH.")
    _gallery_arg(q)
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--person", metavar="NAME", help="remove this person and all their photos")
    what.add_argument("--file", metavar="PATH", help="remove the photos made from this file")
    what.add_argument("--sha256", metavar="HASH", help="remove the photos with this file hash")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_remove)

    q = sub.add_parser("search", help="who is the largest face of IMAGE, according to the gallery?")
    q.add_argument("image", metavar="IMAGE")
    _gallery_arg(q)
    q.add_argument("--top-k", type=ranged(int, 1, 1000), default=5, metavar="K", help="candidates to list, 1-1000 (default 5)")
    q.add_argument("--device", default="auto", type=device_name)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_search)


def _gallery_arg(q: argparse.ArgumentParser) -> None:
    q.add_argument("-g", "--gallery", required=True, metavar="G", help="gallery folder")


def run_add(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from dfrec.gallery.gallery import Gallery
    from dfrec.gallery.ingest import FaceEmbedder, add_photos, list_sources

    if args.batch_size < 1:
        raise InputError("--batch-size must be >= 1")
    photos, notes = list_sources(args.source)
    for n in notes:
        print(f"dfrec: note: {n}", file=sys.stderr)
    with Gallery.open_or_create(args.gallery, args.index) as g:
        embedder = FaceEmbedder(device=args.device, face=args.face)
        bar = tqdm(total=len(photos), desc="dfrec gallery add", unit="photo", disable=args.no_progress)
        summary = add_photos(g, photos, embedder, batch_size=args.batch_size, on_progress=bar.update)
        bar.close()
        info = g.info()
    out = {**summary.to_dict(), "gallery": info}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{summary.added} photo(s) added, {summary.already} already in the gallery, "
              f"{len(summary.failed)} without a usable face; the gallery {args.gallery} now holds "
              f"{info['photos']} photos of {info['persons']} people ({info['index_type']} index)")
        for f in summary.failed[:20]:
            print(f"  skipped {f['source']}: {f['reason']}", file=sys.stderr)
        if len(summary.failed) > 20:
            print(f"  ... and {len(summary.failed) - 20} more (dfrec gallery info --skipped)", file=sys.stderr)
    return 0 if (summary.added or summary.already or not photos) else 3


def run_info(args: argparse.Namespace) -> int:
    from dfrec.gallery.calibration import expected_false_matches
    from dfrec.gallery.gallery import Gallery

    with Gallery.open(args.gallery, readonly=True) as g:
        info = g.info()
        if args.persons:
            info["person_list"] = [{"name": n, "photos": c} for n, c in g.persons()]
        if args.skipped:
            info["skipped_list"] = g.skipped()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"gallery {info['folder']}")
    print(f"  {info['photos']} photos of {info['persons']} people, {info['skipped_files']} file(s) without a usable face")
    print(f"  index: {info['index_type']}, {info['dim']}-d vectors; {info['bytes_on_disk'] / 1e6:.1f} MB on disk")
    print(f"  updated {info['updated_utc']} (created {info['created_utc']})")
    thr = info.get("threshold")
    if thr:
        efm = expected_false_matches(info["photos"], thr)
        print(f"  'likely the same person' at similarity >= {thr['threshold']:.3f}: false-match rate {thr['fmr']:g} "
              f"per comparison (true-match rate {thr['tmr']:.1%}), about {efm:.2f} chance match(es) per search here")
    for p in info.get("person_list", []):
        print(f"  {p['name']}: {p['photos']}")
    for s in info.get("skipped_list", []):
        print(f"  skipped {s['source']} ({s['name']}): {s['reason']}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from dfrec.gallery.gallery import Gallery
    from dfrec.io import sha256_file

    sha = args.sha256
    if args.file is not None:
        f = Path(args.file)
        if not f.is_file():
            raise InputError(f"{f}: no such file")
        sha = sha256_file(f)
    with Gallery.open(args.gallery) as g:
        n = g.remove(name=args.person, sha256=sha)
        info = g.info()
    if args.json:
        print(json.dumps({"removed": n, "gallery": info}, indent=2))
    else:
        print(f"{n} photo(s) removed; {info['photos']} photos of {info['persons']} people remain")
    return 0 if n else 1


def run_search(args: argparse.Namespace) -> int:
    from dfrec.errors import NoFaceError
    from dfrec.gallery.gallery import Gallery
    from dfrec.gallery.ingest import FaceEmbedder
    from dfrec.io import read_image

    if args.top_k < 1:
        raise InputError("--top-k must be >= 1")
    image = read_image(args.image)
    with Gallery.open(args.gallery, readonly=True) as g:
        emb = FaceEmbedder(device=args.device)
        try:
            crop, face, _ = emb.crop(image)
        except NoFaceError as e:
            raise NoFaceError(f"{args.image}: {e}") from None
        cands = g.search(emb.embed(crop[None]), top_k=args.top_k)[0]
    if args.json:
        print(json.dumps({"image": args.image, "box": [round(float(v), 1) for v in face.box],
                          "candidates": [c.to_dict() for c in cands]}, indent=2))
        return 0
    for c in cands:
        verdict = {True: "likely the same person", False: "", None: ""}[c.likely_same]
        print(f"{c.rank}. {c.name}  similarity {c.similarity:.3f}  {verdict}".rstrip())
    return 0
