"""Finding 6 of issue 14: every numeric option of every subcommand is checked when the
command line is read (finite, in range, bounded), before any model, data or output is
touched; each bad value gives one line and exit 2."""

from __future__ import annotations

import pytest

from dfrec.cli.main import build_parser, main

from .conftest import raw_lines

# (argv before the bad value, option, bad values); positional placeholders never get read
CASES = [
    (["recover", "x.png"], "--fps", ["nan", "inf", "-1", "1e9", "abc"]),
    (["recover", "x.png"], "--max-faces", ["0", "-3", "100000", "1.5"]),
    (["recover", "x.png"], "--max-frames", ["0", "-1", "1e12"]),
    (["recover", "x.png"], "--detection-threshold", ["nan", "-inf", "1e6"]),
    (["recover", "x.png"], "--detection-upsample", ["-2", "3", "nan"]),
    (["recover", "x.png"], "--seed", ["-1", "4294967296", "1e3"]),
    (["recover", "x.png"], "--top-k", ["0", "1001"]),
    (["gallery", "add", "src", "-g", "g"], "--batch-size", ["0", "nan"]),
    (["gallery", "search", "x.png", "-g", "g"], "--top-k", ["0", "-1"]),
    (["faces", "x.png", "-o", "o"], "--size", ["40000", "0", "-224", "nan"]),
    (["faces", "x.png", "-o", "o"], "--margin", ["nan", "-0.1", "4"]),
    (["faces", "x.png", "-o", "o"], "--upsample", ["-2", "3"]),
    (["verify", "a.png", "b.png"], "--threshold", ["0", "nan", "inf", "-1", "5"]),
    (["evaluate", "--data", "d"], "--batch-size", ["0", "-3", "100000"]),
    (["evaluate", "--data", "d"], "--limit", ["1", "0", "nan"]),
    (["evaluate", "--data", "d"], "--robust-limit", ["0"]),
    (["evaluate", "--data", "d"], "--threshold", ["nan", "1.5", "-0.1"]),
    (["evaluate", "--data", "d"], "--seed", ["-5"]),
    (["synth", "--faces", "f", "-o", "o"], "-n", ["0", "-1", "1e9"]),
    (["synth", "--faces", "f", "-o", "o"], "--workers", ["0", "1000"]),
    (["synth", "--faces", "f", "-o", "o"], "--faces-pool", ["1"]),
    (["synth", "--faces", "f", "-o", "o"], "--sheet-rows", ["0"]),
    (["synth", "--faces", "f", "-o", "o"], "--seed", ["-1"]),
    (["data", "index", "d"], "--workers", ["0"]),
    (["data", "index", "d"], "--size", ["8", "99999"]),
    (["data", "index", "d"], "--quality", ["0", "101"]),
    (["data", "index", "d"], "--limit", ["0"]),
    (["data", "index", "d"], "--seed", ["nan"]),
    (["data", "pack", "c", "-o", "o"], "--quality", ["0", "200"]),
    (["data", "pack", "c", "-o", "o"], "--size", ["0"]),
    (["data", "pack", "c", "-o", "o"], "--max-per-identity", ["0", "-2", "1.5", "nan"]),
    (["data", "split", "d", "-o", "s.json"], "--fractions", ["nan,0.5,0.5", "0.5,0.5", "1,1,1", "-1,1,1"]),
    (["data", "prepare", "ffpp", "r", "-o", "o"], "--frames", ["0"]),
    (["data", "prepare", "ffpp", "r", "-o", "o"], "--limit", ["-1"]),
    (["data", "prepare", "ffpp", "r", "-o", "o"], "--size", ["1e6"]),
    (["data", "split", "d", "-o", "s.json"], "--seed", ["-2"]),
    (["train"], "--max-steps", ["0", "-1"]),
    (["serve"], "--port", ["-1", "65536", "nan"]),
    (["serve"], "--top-k", ["0", "1001"]),
    (["serve"], "--threads", ["0"]),
    (["serve"], "--max-upload-mb", ["0", "nan", "-5"]),
    (["serve"], "--max-files", ["0"]),
    (["serve"], "--max-queue", ["0", "-1"]),
    (["serve"], "--max-megapixels", ["0", "inf"]),
    (["serve"], "--fps", ["-1", "nan"]),
    (["serve"], "--max-frames", ["0"]),
    (["serve"], "--max-faces", ["0"]),
    (["convert-official", "a.pth", "o"], "--shard-size-mb", ["0", "nan", "-1"]),
]


def _numeric_options() -> set[tuple[str, str]]:
    """(subcommand path, option) of every option whose type converts to a number."""
    found = set()

    def walk(parser, path):
        for action in parser._actions:
            if action.choices and isinstance(action.choices, dict):  # sub-parsers
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif callable(action.type) and action.option_strings:
                if action.type in (int, float) or getattr(action.type, "__name__", "") in ("int", "float", "seed",
                                                                                          "fractions"):
                    found.add((" ".join(path), max(action.option_strings, key=len)))
    walk(build_parser(), [])
    return found


def test_every_numeric_option_is_validated_and_covered_here():
    parser = build_parser()
    raw_types = []

    def walk(p, path):
        for a in p._actions:
            if a.choices and isinstance(a.choices, dict):
                for name, sub in a.choices.items():
                    walk(sub, [*path, name])
            elif a.type in (int, float):
                raw_types.append((" ".join(path), a.option_strings))
    walk(parser, [])
    assert raw_types == [], f"options parsed with a bare int/float (no range check): {raw_types}"
    covered = set()
    for argv, opt, _ in CASES:
        sub = argv[0] if argv[0] not in ("data", "gallery") else f"{argv[0]} {argv[1]}"
        covered.add((sub, opt if opt != "-n" else "--num"))
    missing = _numeric_options() - covered
    assert not missing, f"numeric options without a bad-value case here: {sorted(missing)}"


@pytest.mark.parametrize("argv, opt, bad", [(a, o, b) for a, o, bs in CASES for b in bs])
def test_bad_number_is_one_line_exit_2_before_any_work(argv, opt, bad, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing may be created: checked below
    rc = main([*argv, f"{opt}={bad}"])
    err = capsys.readouterr().err
    assert rc == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("dfrec: error: argument ") and opt in line and "must be" in line
    assert not raw_lines(line)
    assert list(tmp_path.iterdir()) == []


def test_good_values_still_parse():
    args = build_parser().parse_args(["recover", "x.png", "--fps", "0", "--max-faces", "1000", "--seed", "4294967295",
                                      "--detection-threshold", "-0.5", "--detection-upsample", "2"])
    assert (args.fps, args.max_faces, args.seed, args.detection_threshold, args.detection_upsample) == (
        0.0, 1000, 2**32 - 1, -0.5, 2)
    args = build_parser().parse_args(["data", "split", "d", "-o", "s.json", "--fractions", "0.7, 0.2, 0.1"])
    assert args.fractions == (0.7, 0.2, 0.1)
