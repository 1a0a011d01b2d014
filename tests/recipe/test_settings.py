"""Every training setting is declared once (``scratchnn.recipe.config.SETTINGS``) and everything else follows.

TrainingConfig's fields, the CLI's training options and their help, the tune
grid's keys and the tune help's key list come from that one declaration; a
setting added to it (in a copy of the package, as the CONTRIBUTING recipe says)
appears in all of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from scratchnn import cli
from scratchnn.hyperparameter_tuning import expand_grid
from scratchnn.recipe.config import SETTINGS, TrainingConfig

PACKAGE = Path(__file__).resolve().parents[2] / "scratchnn"


def _subparser(name):
    parser = cli.build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


def test_every_field_has_exactly_one_flag_and_one_help_in_train_and_tune():
    assert TrainingConfig.field_names() == [s.name for s in SETTINGS]
    for command in ("train", "tune"):
        actions = {a.dest: a for a in _subparser(command)._actions}
        for s in SETTINGS:
            action = actions[s.name]
            assert action.option_strings == [s.option]
            assert len(action.help) > 15
        help_text = _subparser(command).format_help()
        for s in SETTINGS:
            assert help_text.count(s.option + " ") >= 1
    tune_help = " ".join(_subparser("tune").format_help().split())
    for s in SETTINGS:
        assert s.name in tune_help
        assert expand_grid({s.name: [s.default]}) == [{s.name: s.default}]


PROBE = r"""
import json, sys
from scratchnn import cli
from scratchnn.recipe.config import TrainingConfig
from scratchnn.hyperparameter_tuning import expand_grid
parser = cli.build_parser()
subs = next(a for a in parser._actions if a.dest == "command").choices
args = parser.parse_args(["train", "--data", "iris", "--out", "o", "--warmup-steps", "7"])
from scratchnn.cli.options import config_from_args
print(json.dumps({
    "fields": TrainingConfig.field_names(),
    "default": TrainingConfig().warmup_steps,
    "parsed": config_from_args(args).warmup_steps,
    "train_help": subs["train"].format_help(),
    "tune_help": " ".join(subs["tune"].format_help().split()),
    "grid": expand_grid({"warmup_steps": [1, 2]}),
    "doc": TrainingConfig.__doc__,
}))
"""


def test_a_setting_added_to_the_declaration_appears_everywhere(tmp_path):
    copy = tmp_path / "scratchnn"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    config = (copy / "recipe" / "config.py").read_text()
    marker = ")  # end of SETTINGS"
    assert config.count(marker) == 1
    line = (
        '    Setting("warmup_steps", 3, "steps of a made-up warm-up for this test", kind=int, metavar="N"),\n'
    )
    (copy / "recipe" / "config.py").write_text(config.replace(marker, line + marker))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["fields"][-1] == "warmup_steps"
    assert (report["default"], report["parsed"]) == (3, 7)
    assert "--warmup-steps N" in report["train_help"]
    assert "made-up warm-up" in report["train_help"]
    assert "warmup_steps" in report["tune_help"]
    assert report["grid"] == [{"warmup_steps": 1}, {"warmup_steps": 2}]
    assert "warmup_steps : int, default=3" in report["doc"]
