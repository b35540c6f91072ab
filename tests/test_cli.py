"""The command line's structure: every subcommand's help, options shared by definition, --quiet/--verbose and logging.

All in one process, with no model loaded and nothing but ``tmp_path`` written.
"""

from __future__ import annotations

import argparse
import json
import logging

import pytest

from fashionseg.cli import build_parser, main, options


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for every command that runs something, e.g. (("store", "import"), parser)."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from leaf_parsers(child, (*path, name))


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


LEAVES = [path for path, _ in leaf_parsers(build_parser())]


def test_the_command_tree_is_complete():
    assert len(LEAVES) >= 25
    for path in [
        ("convert", "ccp"),
        ("store", "preannotate"),
        ("train", "maskrcnn"),
        ("evaluate", "unet"),
        ("predict", "maskrcnn"),
        ("bench", "app"),
        ("export", "maskrcnn"),
        ("export", "unet"),
        ("thresholds", "maskrcnn"),
        ("robustness",),
        ("vocab",),
        ("mapping",),
    ]:
        assert path in LEAVES


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_subcommand_has_help(path, capsys, cli_logger):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: fashionseg {' '.join(path)}")


def test_shared_options_read_the_same_in_every_command():
    leaves = dict(leaf_parsers(build_parser()))
    # --db: every store command, one definition (bench store's is its own: a store it writes into)
    dbs = [option(p, "--db") for path, p in leaves.items() if path[0] == "store"]
    assert len(dbs) == 5 and all(a is not None for a in dbs)
    assert {(a.help, a.default) for a in dbs} == {(options.DB_HELP, dbs[0].default)}
    # --quiet and --verbose: the top level's defaults, the same help wherever a command takes them too
    quiet = [(path, option(p, "--quiet"), option(p, "--verbose")) for path, p in leaves.items() if option(p, "--quiet")]
    assert {path for path, _, _ in quiet} >= {
        ("convert", "ccp"),
        ("store", "import"),
        ("train", "unet"),
        ("robustness",),
    }
    for path, q, v in quiet:
        assert (q.help, v.help) == (options.QUIET_HELP, options.VERBOSE_HELP), path
        assert q.default is argparse.SUPPRESS and v.default is argparse.SUPPRESS, path
    # --weights: the kind's help wherever the command is of one kind
    for path, p in leaves.items():
        kind = next((k for k in options.MODEL_LABELS if k in path), None)
        if kind and path != ("export", "maskrcnn") and option(p, "--weights"):
            assert option(p, "--weights").help == options.weights_help(kind), path
    # --runtime, the predict options and the Ray options: one help each
    for flag in (
        "--runtime",
        "--min-confidence",
        "--max-instances",
        "--max-per-class",
        "--focus",
        "--label-head",
        "--ray",
        "--ray-address",
        "--ray-cpus",
        "--split",
        "--limit",
        "--run-name",
    ):
        found = {path: option(p, flag) for path, p in leaves.items() if option(p, flag)}
        if flag == "--runtime":
            found.pop(("bench", "maskrcnn"))  # runtimes to compare, repeatable
        if flag == "--split":
            found.pop(("thresholds", "maskrcnn"))  # the split to tune on, default val
            found.pop(("evaluate", "unet"))  # "of the file": --test is garment.json
            found.pop(("train", "label-head"))  # the split to fit on, default train
            found.pop(("train", "pseudo-labels"))  # the tag-only photos to label, default train
        if flag == "--limit":
            found.pop(("store", "preannotate"))  # images, not test photos
        assert len(found) >= 2, flag
        assert len({(a.help, a.default, str(a.choices)) for a in found.values()}) == 1, (flag, found)


def test_quiet_and_verbose_before_or_after_the_command():
    parser = build_parser()
    store = ["store", "import", "in.json", "--images", "p", "--name", "n"]
    assert parser.parse_args(store).quiet is False
    assert parser.parse_args(["--quiet", *store]).quiet is True  # the subcommand's own --quiet does not reset it
    assert parser.parse_args([*store, "--quiet"]).quiet is True
    assert parser.parse_args(["--verbose", "vocab"]).verbose is True
    assert parser.parse_args(["vocab", "--quiet"]).quiet is True
    assert parser.parse_args(["vocab"]).quiet is False


def test_every_command_takes_quiet_and_verbose_after_its_name():
    commands = options.leaf_commands(build_parser())
    assert len(commands) >= 20  # export unet, bench app, vocab, ...
    for command in commands:
        given = {flag for action in command._actions for flag in action.option_strings}
        assert {"--quiet", "--verbose"} <= given, command.prog


def test_quiet_with_verbose_is_one_error_line(capsys, cli_logger):
    assert main(["--quiet", "convert", "ccp", "x", "--out", "o", "--verbose"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --quiet and --verbose exclude each other")
    assert main(["convert", "ccp", "x", "--out", "o", "--quiet", "--verbose"]) == 2
    assert capsys.readouterr().err.startswith("error: argument --verbose: not allowed with argument --quiet")


@pytest.mark.parametrize(
    "flags, level", [([], logging.INFO), (["--quiet"], logging.WARNING), (["--verbose"], logging.DEBUG)]
)
def test_the_cli_sets_the_fashionseg_loggers_level(flags, level, capsys, cli_logger):
    assert main([*flags, "vocab"]) == 0
    assert main([*flags, "vocab"]) == 0  # twice in one process: still one handler
    assert cli_logger.level == level and len(cli_logger.handlers) == 1
    capsys.readouterr()
    logging.getLogger("fashionseg.convert.ccp").warning("%d listed ids have no CCP annotation", 3)
    logging.getLogger("fashionseg.evaluation.robustness").info("original: the photo as it is")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: 3 listed ids have no CCP annotation"
    assert err[1:] == ([] if level == logging.WARNING else ["original: the photo as it is"])


def write_maskrcnn_config(folder, **settings):
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig

    folder.mkdir(parents=True, exist_ok=True)
    MaskRCNNConfig(**settings).save(folder / "config.json")
    (folder / "model.weights.h5").write_bytes(b"")


def test_the_confidence_help_states_the_default_models_setting(tmp_path, monkeypatch, capsys, cli_logger):
    from fashionseg.models.maskrcnn.config import MaskRCNNConfig

    monkeypatch.setenv("FASHIONSEG_WEIGHTS", str(tmp_path))
    shipped = options.shipped_maskrcnn_defaults()  # no defaults.json: the config's class defaults
    assert (
        shipped["confidence"] == f"{MaskRCNNConfig.DETECTION_MIN_CONFIDENCE:g}"
        and shipped["source"] == "without a trained model"
    )
    write_maskrcnn_config(
        tmp_path / "m",
        DETECTION_MIN_CONFIDENCE=0.42,
        DETECTION_MAX_INSTANCES=7,
        DETECTION_MIN_CONFIDENCE_PER_CLASS={"shoe": 0.25, "dress": 0.6},
    )
    (tmp_path / "defaults.json").write_text(json.dumps({"maskrcnn": "m"}))
    assert main(["predict", "maskrcnn", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the default model (m): 0.25-0.6 for 2 classes, 0.42 for the others" in out
    assert "the default model (m): 7" in out and "(default: the one weights/defaults.json names, now m)" in out
    (tmp_path / "m" / "config.json").write_text("{broken")  # a broken model folder never breaks the help
    assert options.shipped_maskrcnn_defaults()["source"] == "without a trained model"


def test_train_maskrcnn_takes_the_photos_per_step_into_the_config(tmp_path, monkeypatch, capsys, cli_logger):
    from fashionseg.models.maskrcnn import data, train

    seen = {}

    def train_maskrcnn(config, settings, train_examples, val_examples, run, progress=True):
        seen.update(config=config, settings=settings)
        return {"epoch": 1, "best_val_loss": 1.0, "best_epoch": 1}

    monkeypatch.setattr(train, "train_maskrcnn", train_maskrcnn)
    monkeypatch.setattr(data, "examples_from_coco", lambda *args, **kwargs: [])
    write_maskrcnn_config(tmp_path / "start", RPN_ANCHOR_SCALES=(24, 48, 96, 192, 384))
    args = ["train", "maskrcnn", "--instances", "i.json", "--images", ".", "--run", str(tmp_path / "run")]
    args += ["--init-from", str(tmp_path / "start"), "--heads-epochs", "0"]
    assert main([*args, "--images-per-step", "8"]) == 0
    # the start model's config, with only the batch changed
    assert seen["config"].IMAGES_PER_GPU == 8 and seen["config"].RPN_ANCHOR_SCALES == (24, 48, 96, 192, 384)
    assert seen["settings"].init_weights == str(tmp_path / "start" / "model.weights.h5")
    assert main(args) == 0 and seen["config"].IMAGES_PER_GPU == 2
    capsys.readouterr()
    assert main([*args, "--images-per-step", "0"]) == 2 and "'0' is below 1" in capsys.readouterr().err


def test_train_maskrcnn_takes_the_framing_odds(tmp_path, monkeypatch, capsys, cli_logger):
    from fashionseg.models.augment import FramingSettings
    from fashionseg.models.maskrcnn import data, train

    seen = {}
    monkeypatch.setattr(
        train,
        "train_maskrcnn",
        lambda config, settings, *a, **k: (
            seen.update(settings=settings) or {"epoch": 1, "best_val_loss": 1.0, "best_epoch": 1}
        ),
    )
    monkeypatch.setattr(data, "examples_from_coco", lambda *args, **kwargs: [])
    args = ["train", "maskrcnn", "--instances", "i.json", "--images", ".", "--run", str(tmp_path / "run")]
    assert main(args) == 0 and seen["settings"].framing_settings == FramingSettings()
    assert seen["settings"].repeat_threshold is None
    assert main([*args, "--repeat-factor-threshold", "0.3"]) == 0 and seen["settings"].repeat_threshold == 0.3
    assert main([*args, "--framing-weights", "0.2", "0.55", "0.15", "0.1", "--crop-anchor-weights", "9", "3", "8"]) == 0
    framing = seen["settings"].framing_settings
    assert framing.framing_weights == (0.2, 0.55, 0.15, 0.1) and framing.crop_anchor_weights == (9, 3, 8)
    assert framing.crop_height == FramingSettings().crop_height
    capsys.readouterr()
    assert main([*args, "--crop-anchor-weights", "0", "0", "0"]) == 2
    assert "--crop-anchor-weights must be 3 non-negative numbers" in capsys.readouterr().err
    assert (
        main([*args, "--framing-weights", "1", "-1", "1", "1"]) == 2 and "'-1' is negative" in capsys.readouterr().err
    )
    assert main([*args, "--thesis-augmentation", "--crop-anchor-weights", "1", "0", "0"]) == 2
    assert "--thesis-augmentation turns off" in capsys.readouterr().err


def test_train_unet_takes_the_framing_odds(tmp_path, monkeypatch, capsys, cli_logger):
    from fashionseg.models.augment import FramingSettings
    from fashionseg.models.unet import data, train

    seen = {}
    monkeypatch.setattr(
        train,
        "train_unet",
        lambda config, settings, *a, **k: (
            seen.update(settings=settings)
            or {"best_val_dice": 0.9, "best_epoch": 1, "threshold": 0.5, "val_dice_at_threshold": 0.9}
        ),
    )
    monkeypatch.setattr(data, "examples_from_coco", lambda *args, **kwargs: [])
    args = ["train", "unet", "--garment", "g.json", "--images", ".", "--run", str(tmp_path / "run")]
    assert main(args) == 0 and seen["settings"].framing_settings == FramingSettings()
    assert main([*args, "--framing-weights", "0.5", "0.3", "0.15", "0.05", "--crop-anchor-weights", "1", "1", "2"]) == 0
    framing = seen["settings"].framing_settings
    assert framing.framing_weights == (0.5, 0.3, 0.15, 0.05) and framing.crop_anchor_weights == (1, 1, 2)
    capsys.readouterr()
    assert main([*args, "--framing-weights", "0", "0", "0", "0"]) == 2
    assert "--framing-weights must be 4 non-negative numbers" in capsys.readouterr().err
    for off in ("--report-augmentation", "--no-augment"):
        assert main([*args, off, "--framing-weights", "1", "0", "0", "0"]) == 2
        assert "--no-augment or --report-augmentation turns off" in capsys.readouterr().err


def test_export_maskrcnn_takes_weights_and_still_the_old_positional(tmp_path, monkeypatch, capsys, cli_logger):
    from fashionseg.models.maskrcnn import export

    calls = []

    def export_run(run, folder, which="best", min_confidence=None):
        write_maskrcnn_config(tmp_path / folder)
        calls.append(("run", run, folder, which, min_confidence))
        return folder

    monkeypatch.setattr(export, "export_run", export_run)
    monkeypatch.setattr(
        export, "export_onnx", lambda folder: calls.append(("onnx", str(folder))) or f"{folder}/model.onnx"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["export", "maskrcnn", "--weights", "w", "--run", "r", "--detection-min-confidence", "0.4"]) == 0
    assert calls == [("run", "r", "w", "best", 0.4), ("onnx", "w")]
    assert capsys.readouterr().err == ""
    calls.clear()
    assert main(["export", "maskrcnn", "w", "--run", "r", "--which", "last", "--no-onnx"]) == 0  # deprecated, said so
    assert calls == [("run", "r", "w", "last", None)]
    assert capsys.readouterr().err.startswith("warning: 'fashionseg export maskrcnn WEIGHTS' is deprecated")
    for argv, message in [
        (["--run", "r"], "error: --run: give --weights DIR"),
        (["a", "--weights", "b"], "error: two weights folders given: a and --weights b"),
        (["--weights", "nowhere"], "error: no trained Mask R-CNN in nowhere"),
    ]:
        assert main(["export", "maskrcnn", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(message), err
