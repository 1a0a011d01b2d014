"""The draw-a-digit page in headless Chromium: held-out Digits images drawn on the pad with pointer events."""

from __future__ import annotations

import numpy as np
from playground_support import bitmap_of, screenshot_dir

from scratchnn.data import load_digits_split

N_IMAGES = 50

# Clears the pad with its button, then draws the horizontal runs of on pixels of a 32x32 bitmap onto it, each
# run one stroke of pointer events (down at its first pixel, move to its last, up), as a hand with a pen one
# bitmap pixel wide would; resolves with what the page shows once it has the answer for the whole drawing.
DRAW = """async (runs) => {
  document.getElementById("clear").click();
  const pad = document.getElementById("pad");
  const r = pad.getBoundingClientRect(), cell = pad.clientWidth / 32;
  const at = (x, y) => ({ clientX: r.left + pad.clientLeft + x, clientY: r.top + pad.clientTop + y,
    bubbles: true, pointerId: 1, pointerType: "mouse", buttons: 1 });
  for (const [row, first, last] of runs) {
    const y = (row + 0.5) * cell;
    pad.dispatchEvent(new PointerEvent("pointerdown", at((first + 0.5) * cell, y)));
    if (last > first) pad.dispatchEvent(new PointerEvent("pointermove", at((last + 0.5) * cell, y)));
    pad.dispatchEvent(new PointerEvent("pointerup", at((last + 0.5) * cell, y)));
  }
  while (digits.answered !== digits.version) await new Promise((done) => setTimeout(done, 2));
  return [digits.image, digits.proba, document.getElementById("prediction").textContent];
}"""


def runs_of(bitmap: np.ndarray) -> list[list[int]]:
    """``[row, first column, last column]`` of each horizontal run of on pixels."""
    runs = []
    for i, row in enumerate(bitmap):
        j = 0
        while j < 32:
            if row[j]:
                k = j
                while k + 1 < 32 and row[k + 1]:
                    k += 1
                runs.append([i, j, k])
                j = k + 1
            else:
                j += 1
    return runs


def test_drawn_test_images_are_read_as_well_as_the_images_and_look_like_them(browser, server, tmp_path):
    page = browser.page(server.url + "digits")
    page.wait_for_function("digits.answered >= 0", timeout=30000)  # the model is trained on first use
    page.select_option("#pen", "8")  # one bitmap pixel wide on the 256-pixel pad
    _, x_test, _, y_test = load_digits_split()  # the model never saw these
    images = np.round(x_test * 16).astype(int).reshape(-1, 8, 8)[:N_IMAGES]
    correct, differences = 0, []
    for image, label in zip(images, y_test[:N_IMAGES]):
        seen, proba, shown = page.evaluate(DRAW, runs_of(bitmap_of(image)))
        seen, proba = np.array(seen), np.array(proba)
        differences.append(np.abs(seen - image).mean())
        correct += int(proba.argmax() == label)
        assert shown == str(proba.argmax())
    assert correct / N_IMAGES >= 0.9
    assert np.mean(differences) < 2
    page.select_option("#pen", "18")  # for the README: a 3 drawn with the mouse, as a person would
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    strokes = [[(70, 60), (120, 40), (175, 60), (180, 100), (130, 125)], [(130, 125), (185, 150), (180, 200),
               (120, 220), (70, 200)]]  # fmt: skip
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()
    page.wait_for_function("digits.answered === digits.version")
    assert page.text_content("#prediction") == "3"
    page.screenshot(
        path=str(screenshot_dir(tmp_path) / "playground-digits.png"),
        clip={"x": 0, "y": 0, "width": 1100, "height": 500},
    )
    assert page.errors == []
    page.close()
