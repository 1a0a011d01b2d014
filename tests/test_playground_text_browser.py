"""The text page in headless Chromium against the real server: training, samples, attention maps, uploads."""

from __future__ import annotations

from playground_support import pixels, screenshot_dir

from scratchnn.playground import text
from scratchnn.playground.server import MAX_TEXT_UPLOAD_BYTES

READY = "window.textpage && textpage.attention !== null && textpage.data !== null"


def test_training_runs_samples_appear_and_every_head_draws_its_attention(browser, server, tmp_path):
    page = browser.page(server.url + "text")
    page.wait_for_function(READY, timeout=20000)
    assert page.input_value("#corpus") == "rhymes"
    assert page.text_content("#limit") == f"{MAX_TEXT_UPLOAD_BYTES >> 10} KB"
    assert page.locator(".sample").count() == 1  # step 0's sample: the untrained model
    first_sample = page.text_content(".sample pre")
    page.click("#play")
    page.wait_for_function(
        f"textpage.samples.length >= 4 && textpage.step >= {3 * text.SAMPLE_EVERY}", timeout=40000
    )
    page.click("#play")  # pause
    page.wait_for_function("!textpage.playing")
    assert page.locator(".sample").count() >= 4  # newest first
    assert page.text_content(".sample pre") != first_sample
    losses = page.evaluate("textpage.samples.map(s => s.val_loss)")
    assert losses[-1] < losses[0] - 0.5  # the samples come from a model that has learnt something
    assert int(page.text_content("#step-count")) == page.evaluate("textpage.step")
    heads = page.locator("#heads canvas")
    assert heads.count() == text.TINY_GPT["n_head"]
    for k in range(heads.count()):
        img = pixels(heads.nth(k).screenshot())
        assert img.std() > 10, f"head {k + 1} drew a blank canvas"  # the weights vary over the grid
        assert (img.min(axis=2) < 100).mean() > 0.02  # each row's largest weight is drawn dark
    page.select_option("#block", "0")  # the first block's heads, drawn on choosing it
    page.wait_for_function("document.getElementById('head-0').title.startsWith('head 1')")
    page.screenshot(path=str(screenshot_dir(tmp_path) / "playground-text.png"), full_page=True)
    assert page.errors == []
    page.close()


def test_an_upload_over_the_limit_or_binary_is_refused_with_a_message_and_a_good_one_is_learnt(
    browser, server, tmp_path
):
    page = browser.page(server.url + "text")
    page.wait_for_function(READY, timeout=20000)
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (MAX_TEXT_UPLOAD_BYTES + 1))
    page.set_input_files("#text-file", str(big))
    page.wait_for_function("document.getElementById('message').className === 'error'")
    assert page.text_content("#message") == f"big.txt is larger than {MAX_TEXT_UPLOAD_BYTES >> 10} KB"
    assert page.input_value("#corpus") == "rhymes"
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 4)
    page.set_input_files("#text-file", str(binary))
    page.wait_for_function(
        "document.getElementById('message').textContent.startsWith('photo.jpg is not UTF-8')"
    )
    good = tmp_path / "owl.txt"
    good.write_text("The owl and the pussy-cat went to sea in a beautiful pea-green boat.\n" * 30)
    page.set_input_files("#text-file", str(good))
    page.wait_for_function("textpage.data && textpage.data.corpus === 'upload'")
    assert page.input_value("#corpus") == "upload"
    assert page.text_content("#corpus option[value=upload]") == "owl.txt"
    page.click("#step")
    page.wait_for_function("textpage.step === 1")
    assert page.errors == [  # the browser logs the two refusals; nothing else went wrong
        "Failed to load resource: the server responded with a status of 413 (Request Entity Too Large)",
        "Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ]
    page.close()
