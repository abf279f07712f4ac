"""The run report (``i3d report``): its parts on known inputs, the whole page on a small results tree written with
the project's own writers, and the page as a real headless Chromium renders it over 127.0.0.1.

Set ``I3D_REPORT_SCREENSHOT=/some/path.png`` to keep the browser test's screenshot for a person to look at.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from loopback import LoopbackServer

from i3d.atomic import write_text_atomic
from i3d.data.shards import ShardWriter, encode_jpeg, stack_flow_image
from i3d.evaluate.predict import write_predictions
from i3d.flow.quantize import quantize
from i3d.report.confusion import confusion_counts, row_normalised
from i3d.report.flow_colour import flow_to_colour
from i3d.report.markdown import lead, markdown_to_html
from i3d.report.page import write_report
from i3d.report.pretraining import comparisons
from i3d.report.stage_times import stage_times
from i3d.tables.assemble import write_table2
from i3d.tables.render import document
from i3d.tables.table1 import write_table1

CLASSES = ["MoveRight", "MoveDown", "Still"]
MOTION = {0: (3.0, 0.0), 1: (0.0, 3.0), 2: (0.0, 0.0)}  # px per frame of each class's clip, x right, y down
SIZE, FRAMES = 32, 4
BROWSER_TIMEOUT = 60


def colour(u: float, v: float, scale: float = 1.0) -> np.ndarray:
    return flow_to_colour(np.array([[[u, v]]]), scale)[0, 0].astype(int)


# --- the parts -------------------------------------------------------------------------------------------------

def test_the_colour_wheel_gives_each_direction_its_middlebury_hue():
    right, down, left, up = colour(1, 0), colour(0, 1), colour(-1, 0), colour(0, -1)
    assert right.tolist() == [255, 0, 0]  # red
    assert down[0] > 200 and down[1] > 200 and down[2] < 40  # yellow (image y points down)
    assert left[0] < 40 and left[1] > 150 and left[2] > 200  # cyan-blue
    assert up[2] > 200 and up[1] < 40 and 40 < up[0] < 200  # blue-violet
    assert len({tuple(c) for c in (right, down, left, up)}) == 4
    assert colour(0, 0).tolist() == [255, 255, 255]  # no motion: white
    half = colour(0.5, 0)
    assert half[0] == 255 and 100 < half[1] < 160 and half[1] == half[2]  # slower: paler red
    assert (colour(2, 0) < right + 1).all() and colour(2, 0)[0] < 255  # beyond the scale: darkened


def test_the_colour_of_a_field_is_scaled_by_its_largest_motion():
    flow = np.zeros((1, 2, 2))
    flow[0, 0] = (4, 0)
    flow[0, 1] = (2, 0)
    image = flow_to_colour(flow)
    assert image[0, 0].tolist() == [255, 0, 0] and image[0, 1, 0] == 255 and 100 < image[0, 1, 1] < 160


def test_confusion_counts_and_rows():
    labels = np.array([0, 0, 1, 2, 2, 2])
    logits = np.eye(4)[[0, 1, 1, 2, 0, 2]]  # predictions 0 1 1 2 0 2; class 3 has no clips
    counts = confusion_counts(labels, logits)
    assert counts.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    rows = row_normalised(counts)
    assert np.allclose(rows[:3].sum(axis=1), 1) and rows[2, 2] == pytest.approx(2 / 3) and not rows[3].any()


def write_benchmark(path: Path, *seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{s}\t0:00:{int(s):02d}\t1\t1\t1\t1\t0\t0\t0\t0\n" for s in seconds)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n" + rows)


def write_benchmarks(root: Path) -> None:
    write_benchmark(root / "imagenet_standin.tsv", 5)
    write_benchmark(root / "ucf101/acquire.tsv", 1)
    write_benchmark(root / "ucf101/frames/shard000.tsv", 2)
    write_benchmark(root / "ucf101/flow/shard000.tsv", 3)
    write_benchmark(root / "ucf101/flow/shard001.tsv", 4)
    write_benchmark(root / "ucf101/features/i3d-rgb-imagenet.tsv", 6)
    write_benchmark(root / "ucf101/split1/i3d-rgb-scratch/train.tsv", 99, 10)  # rerun: its last row counts
    write_benchmark(root / "ucf101/split1/i3d-flow-scratch/train.tsv", 20)
    write_benchmark(root / "ucf101/split1/i3d-rgb-scratch/predict.tsv", 2)
    write_benchmark(root / "ucf101/split1/fullft/i3d-rgb-imagenet/train.tsv", 30)
    write_benchmark(root / "ucf101/split1/fullft/i3d-rgb-imagenet/predict.tsv", 7)


def test_stage_times_sum_each_stages_files(tmp_path, capsys):
    write_benchmarks(tmp_path)
    df = stage_times(tmp_path).set_index("stage")
    expected = {"imagenet_standin": (1, 5), "acquire": (1, 1), "frames": (1, 2), "flow": (2, 7), "features": (1, 6),
                "train": (2, 30), "predict": (1, 2), "finetune": (1, 30), "predict_fullft": (1, 7)}
    assert {s: (int(r.jobs), r.job_seconds) for s, r in df.iterrows()} == expected
    assert df["share_%"].sum() == pytest.approx(100)
    assert stage_times(tmp_path / "none").empty

    from benchmarks.stage_times import main  # the terminal view is a thin caller of the same function

    main(str(tmp_path))
    assert "total job seconds: 90" in capsys.readouterr().out


def test_markdown_tables_become_escaped_html():
    text = document(["# Table 9: a test", "", "**Bold** note with `code` & <b>markup</b>; see [Table 1](table1.md)."],
                    pd.DataFrame({"model": ["i3d", "<script>alert(1)</script>"], "top1": [1.5, np.nan]}), "tidy: x")
    out = markdown_to_html(text)
    assert "<h3>Table 9: a test</h3>" in out and "<strong>Bold</strong>" in out and "<code>code</code>" in out
    assert '<a href="#table1">Table 1</a>' in out and "&amp; &lt;b&gt;markup&lt;/b&gt;" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<th>model</th><th>top1</th>" in out and out.count("<tr>") == 3 and "<td>–</td>" in out


def test_a_long_caption_is_folded_and_the_table_scrolls_in_its_own_box():
    long = "A caption sentence that goes on. " * 8
    out = markdown_to_html(document(["# Table 9: long", "", "Each cell is **ours (paper)**. More follows.", "", long],
                                    pd.DataFrame({"a": [1]}), "tidy: `x.csv`"))
    assert re.search(r"<h3>Table 9: long</h3>\s*<details><summary>Each cell is <strong>ours \(paper\)</strong>\. "
                     r"…</summary>\s*<p>More follows\.</p>\s*<p>A caption sentence", out)
    assert out.index("</details>") < out.index('<div class="scroll"><table')  # the whole caption folded
    assert out.index("</table></div>") < out.index("<p>tidy: <code>x.csv</code></p>")
    short = markdown_to_html(document(["# Table 8: short", "", "One line."], pd.DataFrame({"a": [1]}), "tidy"))
    assert "<details>" not in short and "<p>One line.</p>" in short
    sentence = "word " * 30 + "**a bold phrase across the limit**" + " tail" * 10 + "."
    cut = lead(sentence)  # a first sentence too long for a summary: cut after a word, not inside the bold
    assert cut == "word " * 29 + "word"
    assert lead("`a.b c` is code. Next.") == "`a.b c` is code."


def test_a_table2_csv_without_its_columns_is_named_on_the_page(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results/table2.csv").write_text("architecture,top1\ni3d,50\n")
    page = write_report(tmp_path / "results", tmp_path / "report.html").read_text()
    assert re.search(r"table2.csv: unreadable \(.*table2.csv: no column dataset, split, stream", page)


# --- a small results tree ----------------------------------------------------------------------------------------

def moving_frames(dx: float, dy: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (SIZE * 2, SIZE * 2, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[8 + int(dy * t):8 + int(dy * t) + SIZE, 8 + int(dx * t):8 + int(dx * t) + SIZE])
            for t in range(FRAMES)]


def write_shards(root: Path) -> None:
    """rgb and flow shards as the frames and flow stages write them, the flow being each class's known motion."""
    rgb = ShardWriter(root / "rgb/shard000.h5", "rgb", {"fps": 25})
    flow = ShardWriter(root / "flow/shard000.h5", "flow", {"bound": 20.0, "backend": "test"})
    for label, (dx, dy) in MOTION.items():
        clip = f"clip_{CLASSES[label]}"
        rgb.add_clip(clip, label, (encode_jpeg(f) for f in moving_frames(dx, dy, label)), 25.0, SIZE, SIZE)
        field = np.broadcast_to(np.array([dx, dy], np.float32), (SIZE, SIZE, 2))
        jpeg = encode_jpeg(stack_flow_image(quantize(field, 20.0)))
        flow.add_clip(clip, label, [jpeg] * (FRAMES - 1), 25.0, SIZE, SIZE)
    rgb.close()
    flow.close()


def write_model(folder: Path, attrs: dict, epochs: int = 3, metrics: bool = True, hits: int = 5) -> None:
    """A model's metrics.csv and predictions.h5 (6 test clips, ``hits`` of them right)."""
    folder.mkdir(parents=True, exist_ok=True)
    if metrics:
        history = pd.DataFrame({"epoch": range(1, epochs + 1), "train_loss": np.linspace(2, 1, epochs),
                                "train_top1": np.linspace(30, 90, epochs), "val_top1": [40, 70, 60][:epochs],
                                "lr": 0.01, "seconds": 1.0, "clips": 12})
        history.assign(selected=lambda d: d.epoch == 2).to_csv(folder / "metrics.csv", index=False)
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = [0, 0, 1, 2, 2, 2] if hits == 5 else np.where(np.arange(6) < hits, labels, (labels + 1) % 3)
    logits = np.eye(3)[predicted].astype(np.float32)
    write_predictions(folder / "predictions.h5", [f"c{i}" for i in range(6)], labels, logits,
                      {"data": "stand-in", "dataset": "ucf101", "split": 1, **attrs})


@pytest.fixture()
def results(tmp_path: Path, table1: Path) -> Path:
    root = tmp_path / "results"
    ucf = root / "ucf101"
    ucf.mkdir(parents=True)
    pd.DataFrame({"clip_id": [f"clip_{c}" for c in CLASSES], "label": CLASSES, "label_index": [0, 1, 2],
                  "split1": "test", "status": "ok", "reason": ""}).to_csv(ucf / "manifest.csv", index=False)
    write_shards(ucf)
    split = ucf / "split1"
    write_model(split / "i3d-rgb-scratch", dict(arch="i3d", stream="rgb", init="scratch", protocol="original"))
    write_model(split / "two_stream-rgb+flow-scratch",
                dict(arch="two_stream", stream="rgb+flow", init="scratch", protocol="original"))
    write_model(split / "fixed/i3d-rgb-imagenet", dict(arch="i3d", stream="rgb", init="imagenet", protocol="fixed"),
                metrics=False)
    write_model(split / "fullft/i3d-rgb-imagenet",
                dict(arch="i3d", stream="rgb", init="imagenet", protocol="fullft"), epochs=2)
    hmdb = root / "hmdb51"  # frames, no flow, no models yet
    frames = ShardWriter(hmdb / "rgb/shard000.h5", "rgb")
    frames.add_clip("a", 0, (encode_jpeg(f) for f in moving_frames(1, 0, 0)), 25.0, SIZE, SIZE)
    frames.close()
    pd.DataFrame({"clip_id": ["a"], "label": ["x"], "label_index": [0]}).to_csv(hmdb / "manifest.csv", index=False)
    for suffix in (".csv", ".md"):  # Table 1 in full: every architecture, 17 columns
        shutil.copyfile(table1.with_suffix(suffix), root / f"table1{suffix}")
    write_table2([split / "i3d-rgb-scratch/predictions.h5", split / "two_stream-rgb+flow-scratch/predictions.h5"],
                 root / "table2")
    write_benchmarks(root / "benchmarks")
    return root


@pytest.fixture(scope="module")
def table1(tmp_path_factory) -> Path:
    """Table 1 as the workflow writes it (made once: building every model's shapes takes seconds)."""
    from i3d.models.registry import list_architectures

    prefix = tmp_path_factory.mktemp("table1") / "table1"
    write_table1(prefix, list_architectures())
    return prefix


def img_sources(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_the_report_shows_every_part_and_notes_what_is_missing(results, tmp_path):
    caption = ["# Table 5: a hostile page", "", "Each cell is **ours (paper)** <of a test>."]
    write_text_atomic(results / "table5.md", document(
        caption, pd.DataFrame({"architecture": ["i3d", "<img src=x onerror=alert(1)>"], "UCF-101 rgb": ["83.3", "–"]}),
        "Tidy form: `table5.csv`."))
    out = write_report(results, tmp_path / "site/report.html")
    page = out.read_text()
    assert not list(out.parent.glob("*.tmp*"))  # written through a temporary name
    for anchor in ("tables", "table1", "table2", "table5", "pretraining", "curves", "confusion", "examples", "stages"):
        assert f'id="{anchor}"' in page
    assert "Table 2: architecture comparison" in page and "&lt;of a test&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page  # escaped
    for missing in ("tables.md", "table3.md", "table4.md"):
        assert f"{missing}: not made yet." in page
    assert "hmdb51: no flow shards yet." in page and "hmdb51: no metrics.csv yet" in page
    assert "stand-in data" in page and "UCF-101" in page

    sources = img_sources(page)
    assert all(not s.startswith(("/", "http")) for s in sources)  # relative: the pair can move
    assert all((out.parent / s).is_file() for s in sources)
    names = [Path(s).name for s in sources]
    assert sum(n.startswith("curves-ucf101") for n in names) == 3  # the fixed probe has no curves
    assert sum(n.startswith("confusion-ucf101") for n in names) == 4
    assert sum(n.startswith("examples-ucf101") for n in names) == 3 and "stage-times.png" in names
    assert "table2.png" in names
    assert "confusion-ucf101-split1-original-two_stream-rgb_flow-scratch.png" in names  # '+' is not put in a URL
    assert "top-1 83.3% on 6 clips" in page and "selected 2" in page
    confusion = page[page.index('id="confusion"'):]
    assert confusion.index("split1 original") < confusion.index("split1 fixed") < confusion.index("split1 fullft")
    assert "<td>finetune</td>" in page and "Total: 90 job seconds" in page

    # the strips: frames above, the known motion below in its Middlebury colour (class order = MOTION's)
    for n, expected in enumerate((colour(1, 0), colour(0, 1), colour(0, 0))):
        strip = (mpimg.imread(out.parent / f"report/examples-ucf101-{n}.png")[..., :3] * 255).round()
        flow_part = strip[strip.shape[0] * 3 // 4, : strip.shape[1] // 8]  # a row in the middle of the flow half
        assert np.abs(flow_part - expected).max() <= 40, (n, flow_part.mean(axis=0), expected)


def test_models_that_differ_only_in_their_start_are_compared(results, tmp_path):
    kinetics = results / "kinetics400/split1"
    for stream, init, hits in (("rgb", "imagenet", 6), ("rgb", "scratch", 5), ("flow", "imagenet", 4),
                               ("flow", "scratch", 6)):
        write_model(kinetics / f"i3d-{stream}-{init}", dict(arch="i3d", stream=stream, init=init, protocol="original"),
                    hits=hits)
    write_model(kinetics / "c3d-rgb-scratch", dict(arch="c3d", stream="rgb", init="scratch", protocol="original"))
    write_model(results / "ucf101/split1/fullft/i3d-rgb-scratch",
                dict(arch="i3d", stream="rgb", init="scratch", protocol="fullft"), epochs=2)
    (results / "ucf101/split1/fullft/i3d-rgb-scratch/predictions.h5").unlink()  # not predicted yet

    found = {(c.dataset, c.model): [s.label for s in c.starts] for c in comparisons(results / "kinetics400")}
    found.update({(c.dataset, c.model): [s.label for s in c.starts] for c in comparisons(results / "ucf101")})
    assert found == {("kinetics400", "i3d-rgb"): ["from scratch", "from ImageNet"],  # c3d has one start: no figure
                     ("kinetics400", "i3d-flow"): ["from scratch", "from ImageNet"],
                     ("ucf101", "i3d-rgb"): ["Original (scratch)", "Full-FT from Kinetics",
                                             "Full-FT from ImageNet→Kinetics"]}

    page = write_report(results, tmp_path / "report.html").read_text()
    part = page[page.index('id="pretraining"'):page.index('id="curves"')]
    assert part.count("<img") == 3 and "pretraining-ucf101-split1-i3d-rgb.png" in part
    assert ["split1 i3d-rgb", "Original (scratch)", "3", "40.0", "70.0", "83.3"] in table_rows(part)
    assert ["split1 i3d-rgb", "Full-FT from Kinetics", "2", "40.0", "70.0", "–"] in table_rows(part)  # no predictions
    assert ["split1 i3d-rgb", "from ImageNet", "3", "40.0", "70.0", "100.0"] in table_rows(part)

    # the verdicts lead the page: each pre-trained start against the comparison's first, from the same numbers
    glance = page[page.index('id="glance"'):page.index('id="tables"')]
    assert page.index('id="glance"') < page.index('id="tables"') < page.index('id="pretraining"')
    assert table_rows(glance) == [
        ["UCF-101", "split1 i3d-rgb", "Full-FT from Kinetics", "Original (scratch)", "not yet: no test top-1"],
        ["UCF-101", "split1 i3d-rgb", "Full-FT from ImageNet→Kinetics", "Original (scratch)", "tie: 83.3 vs 83.3"],
        ["Kinetics-400", "split1 i3d-flow", "from ImageNet", "from scratch", "no: 66.7 vs 100.0 (-33.3)"],
        ["Kinetics-400", "split1 i3d-rgb", "from ImageNet", "from scratch", "yes: 100.0 vs 83.3 (+16.7)"]]


def table_rows(part: str) -> list[list[str]]:
    """The text of each body row of the HTML tables in ``part``."""
    return [[html.unescape(re.sub("<.*?>", "", cell)) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", part, re.S) if "<td>" in row]


def test_the_report_of_an_empty_tree_is_notes_only(tmp_path):
    (tmp_path / "results").mkdir()
    page = write_report(tmp_path / "results", tmp_path / "out/report.html").read_text()
    assert "table2.md: not made yet." in page and "no benchmark files" in page
    glance = page[page.index('id="glance"'):page.index('id="tables"')]
    assert "table2.csv: not made yet." in glance and "<img" not in glance
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "absent", tmp_path / "out/report.html")


def test_an_unreadable_file_is_noted_and_the_rest_shown(results, tmp_path):
    (results / "ucf101/split1/i3d-rgb-scratch/predictions.h5").write_bytes(b"not hdf5")
    page = write_report(results, tmp_path / "report.html").read_text()
    assert "i3d-rgb-scratch/predictions.h5: unreadable" in page and page.count("confusion-ucf101") == 3


def test_the_cli_writes_the_page(results, tmp_path, capsys):
    from i3d.cli import main

    out = tmp_path / "elsewhere/r.html"
    assert main(["report", "--results", str(results), "--out", str(out), "--examples", "1", "--frames", "2"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert len(re.findall(r'src="r/examples-ucf101-\d\.png"', page)) == 1 and "frames 0, 2" in page


# --- in a real browser -------------------------------------------------------------------------------------------

CHECK_PAGE = """<!DOCTYPE html><html><body>
<iframe id="report" src="report.html" width="1200" height="900"></iframe>
<pre id="result">pending</pre>
<script>
const frame = document.getElementById("report");
frame.addEventListener("load", () => {
  const images = Array.from(frame.contentDocument.images);
  document.getElementById("result").textContent =
    JSON.stringify(images.map(i => [i.getAttribute("src"), i.complete, i.naturalWidth]));
});
</script></body></html>
"""


WIDEST = """<pre id="widest">pending</pre><script>
/* The right edge of every element the page lays out, except those inside a box that clips or scrolls them
   (that box is measured instead), and the document's own scroll width. */
addEventListener("load", () => {
  const clipped = el => {
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement)
      if (getComputedStyle(box).overflowX !== "visible") return true;
    return false;
  };
  let widest = {right: 0, element: ""};
  for (const el of document.body.querySelectorAll("*")) {
    if (el.id === "widest" || clipped(el)) continue;
    const right = Math.ceil(el.getBoundingClientRect().right);
    if (right > widest.right) widest = {right, element: el.tagName + (el.id ? "#" + el.id : "")
                                        + (el.className ? "." + el.className : "")};
  }
  document.getElementById("widest").textContent = JSON.stringify(
    {viewport: innerWidth, scroll_width: document.documentElement.scrollWidth, widest});
});
</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=BROWSER_TIMEOUT, check=True)


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not on PATH (Debian: apt-get install chromium; .ci/run installs it)")
def test_chromium_renders_the_report_with_every_image_and_link(results, tmp_path):
    site = tmp_path / "site"
    write_report(results, site / "report.html")
    (site / "check.html").write_text(CHECK_PAGE)
    with LoopbackServer(site) as server:
        page_url = f"{server.url}/report.html"
        dom = chromium("--dump-dom", "--virtual-time-budget=5000", page_url, profile=tmp_path / "p1").stdout
        shot = tmp_path / "report.png"
        chromium(f"--screenshot={shot}", "--window-size=1280,2000", page_url, profile=tmp_path / "p2")
        checked = chromium("--dump-dom", "--virtual-time-budget=5000", f"{server.url}/check.html",
                           profile=tmp_path / "p3").stdout
        requested = {path for path, _ in server.seen}
        sources = img_sources(dom)
        links = re.findall(r'<a href="([^"]+)"', dom)
        assert len(sources) >= 10 and links
        for target in sources + [link for link in links if not link.startswith("#")]:
            assert not re.match(r"[a-z]+:|/", target), target  # relative
            assert f"/{target}" in requested, target
            with urllib.request.urlopen(f"{server.url}/{target}", timeout=10) as answer:
                assert answer.status == 200
        anchors = set(re.findall(r'id="([^"]+)"', dom))
        assert {link[1:] for link in links if link.startswith("#")} <= anchors

    print(f"report screenshot: {shot}")
    if os.environ.get("I3D_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["I3D_REPORT_SCREENSHOT"])
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2000, 1280) and pixels[..., :3].var() > 0

    decoded = json.loads(html.unescape(re.search(r'<pre id="result">(.*?)</pre>', checked, re.S).group(1)))
    assert sorted(src for src, _, _ in decoded) == sorted(sources)
    assert all(complete and width > 0 for _, complete, width in decoded), decoded


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium is not on PATH (Debian: apt-get install chromium; .ci/run installs it)")
def test_no_element_is_wider_than_a_1280_px_window(results, tmp_path):
    """On a laptop screen the page must not run off to the right: wide tables scroll inside their own box."""
    paper_size = results / "kinetics400"  # frames as config/paper.yaml stores them: short side 256
    paper_size.mkdir()
    pd.DataFrame({"clip_id": ["wide"], "label": ["x"], "label_index": [0]}).to_csv(paper_size / "manifest.csv",
                                                                                 index=False)
    rgb = ShardWriter(paper_size / "rgb/shard000.h5", "rgb")
    flow = ShardWriter(paper_size / "flow/shard000.h5", "flow", {"bound": 20.0})
    frames = [np.random.default_rng(t).integers(0, 255, (256, 341, 3), dtype=np.uint8) for t in range(5)]
    rgb.add_clip("wide", 0, (encode_jpeg(f) for f in frames), 25.0, 256, 341)
    still = encode_jpeg(stack_flow_image(quantize(np.zeros((256, 341, 2), np.float32), 20.0)))
    flow.add_clip("wide", 0, [still] * 4, 25.0, 256, 341)
    rgb.close()
    flow.close()
    site = tmp_path / "site"
    page = write_report(results, site / "report.html").read_text()
    (site / "measured.html").write_text(page.replace("</body>", WIDEST + "</body>"))  # same folder: same images
    with LoopbackServer(site) as server:
        dom = chromium("--dump-dom", "--virtual-time-budget=5000", "--window-size=1280,900",
                       f"{server.url}/measured.html", profile=tmp_path / "p").stdout
    measured = json.loads(html.unescape(re.search(r'<pre id="widest">(.*?)</pre>', dom, re.S).group(1)))
    print(f"at 1280 px: {measured}")
    assert measured["viewport"] == 1280
    assert measured["widest"]["right"] <= 1280 and measured["scroll_width"] <= 1280, measured
