"""source: download in the workflow: the full-scale plan, choosing datasets, and a real-data run from nothing.

The real-data run serves a CVDF-style Kinetics mirror on 127.0.0.1, built from real camera footage (the clips
`tests/real_clips.sh` fetches from Debian, cut into 1.2 s segments; classes are the four source videos), and runs
the workflow from nothing: annotations → parts (one a plain tar named .tar.gz, as CVDF's part_120 is) →
replacement archive → report → manifest → frames → flow → I3D → Table 2.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from i3d.data.video import decode, ffmpeg_exe
from loopback import LoopbackServer
from test_layouts import HMDB_CLIPS, UCF_CLIPS, UCF_MISSING, hmdb_archives, ucf_archives
from test_workflow import REPO, copy_project, planned_rules, snakemake

sys.path.insert(0, str(REPO / "benchmarks"))
from dry_run import TEST_ROWS, TRAIN_ROWS, VAL_ROWS, write_kinetics_csvs  # noqa: E402

REAL_CLIPS = REPO / "resources" / "real_clips"
SOURCES = {"box": "box.mp4", "cup": "cup.mp4", "tree": "tree.avi", "pedestrians": "vtest.avi"}
SEGMENTS = 6  # per source video: 4 train, 1 val, 1 test
SPLIT_OF_SEGMENT = ["train"] * 4 + ["val", "test"]


@pytest.mark.long
def test_the_full_scale_plan_has_one_job_per_kinetics_part(tmp_path):
    """config/paper.yaml with Kinetics-400's full annotation lists on disk: every CVDF part is its own job, the
    archives of UCF-101 and HMDB-51 one job each, and the plan does not read the lists (its time is measured by
    benchmarks/dry_run.py, not here)."""
    project = copy_project(tmp_path)
    write_kinetics_csvs(project / "resources" / "kinetics400")
    assert sum(1 for _ in (project / "resources/kinetics400/annotations/train.csv").open()) == TRAIN_ROWS + 1
    out = snakemake(project, "-n", "--configfile", "config/paper.yaml", "--config", "gpus=0")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in out.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["kinetics_part"] == 242 + 20 + 39
    assert counts["kinetics_annotations"] == counts["kinetics_replacement"] == 1
    assert counts["download_native"] == 2
    assert counts["download_report"] == counts["acquire"] == 3
    assert VAL_ROWS and TEST_ROWS  # the val and labelled test lists are written too
    assert "results/kinetics400/download/test/part038.csv" in out.stdout
    (project / "lean.yaml").write_text(yaml.safe_dump({"datasets": {"kinetics400": {"download": {"test_set": False}}}}))
    lean = snakemake(project, "-n", "-p", "--configfile", "config/paper.yaml", "lean.yaml", "--config", "gpus=0")
    assert lean.returncode == 0, lean.stdout[-2000:] + lean.stderr[-2000:]
    assert "download/test/" not in lean.stdout and "kinetics_part" in lean.stdout
    assert "i3d download kinetics-annotations" in lean.stdout and "--no-kinetics-test" in lean.stdout


def test_only_runs_the_named_datasets(tmp_path):
    project = copy_project(tmp_path)
    out = snakemake(project, "-n", "--config", "only=ucf101")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "results/ucf101/manifest.csv" in out.stdout
    assert "results/hmdb51/" not in out.stdout and "results/kinetics400/" not in out.stdout
    bad = snakemake(project, "-n", "--config", "only=ucf102")
    assert bad.returncode != 0 and "only" in bad.stdout + bad.stderr


def test_download_keys_only_where_they_apply(tmp_path):
    project = copy_project(tmp_path)
    cfg = project / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"ucf101": {"source": "download", "download": {"route": "youtube"}}}}))
    out = snakemake(project, "-n", "--configfile", str(cfg))
    assert out.returncode != 0
    assert "datasets.ucf101.download.route" in out.stdout + out.stderr


def test_the_replacement_job_waits_for_every_part_and_part_jobs_check_the_count(tmp_path):
    """The replacement job reads every part's marker, val ones too (the clips in no part): all of them are its
    inputs, so the order is the DAG's, not the scheduler's luck; each part job gets its split's configured
    count to check against the mirror's path list."""
    project = copy_project(tmp_path)
    download = {"mirrors": ["http://127.0.0.1:9/k400"], "parts": {"train": 2, "val": 1}}
    config = {"only": ["kinetics400"], "datasets": {"kinetics400": {"source": "download", "download": download}}}
    (project / "parts.yaml").write_text(yaml.safe_dump(config))
    target = "results/kinetics400/download/replacement.csv"
    out = snakemake(project, "-n", "-p", target, "--configfile", "parts.yaml")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    parts = (("train", 0, 2), ("train", 1, 2), ("val", 0, 1))
    assert [f"{split}/part{index:03d}.csv" for split, index, _ in parts
            if f"results/kinetics400/download/{split}/part{index:03d}.csv" not in out.stdout] == []
    for split, index, count in parts:
        assert f"--split {split} --index {index:03d} --parts {count} " in out.stdout


# --- a real-data run from nothing ---------------------------------------------------------------------------------

def cut(src: Path, dst: Path, start: float, seconds: float) -> None:
    """A re-encoded segment of real footage (short side 96: the test's frames are 32 pixels)."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-ss", str(start), "-t", str(seconds), "-i", str(src),
                    "-vf", "scale=-2:96", "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-an", str(dst)],
                   check=True, timeout=120)


def tar_of(paths: list[Path], dst: Path, *, gzip: bool = True, inner: str = "") -> None:
    with tarfile.open(dst, "w:gz" if gzip else "w") as tar:
        for path in paths:
            tar.add(path, arcname=f"{inner}{path.name}")


@pytest.fixture(scope="module")
def real_mirror(tmp_path_factory) -> Path:
    """A CVDF-style Kinetics-400 mirror (annotations, path lists, parts, replacement) of real footage."""
    missing = [name for name in SOURCES.values() if not (REAL_CLIPS / name).is_file()]
    if missing:
        pytest.skip(f"real clips not fetched ({', '.join(missing)}): run tests/real_clips.sh")
    served = tmp_path_factory.mktemp("mirror")
    root = served / "k400"  # the mirror's base URL is <server>/k400
    clips = tmp_path_factory.mktemp("clips")
    rows, by_split = [], {"train": [], "val": [], "test": []}
    for label, name in SOURCES.items():
        for k in range(SEGMENTS):
            youtube_id = f"{label[:4]}{k:07d}"
            split = SPLIT_OF_SEGMENT[k]
            clip = clips / f"{youtube_id}_{10 * k:06d}_{10 * k + 10:06d}.mp4"
            cut(REAL_CLIPS / name, clip, start=1.3 * k, seconds=1.2)
            rows.append(dict(label=label, youtube_id=youtube_id, time_start=10 * k, time_end=10 * k + 10,
                             split=split, is_cc=0))
            by_split[split].append(clip)
    table = pd.DataFrame(rows)
    (root / "annotations").mkdir(parents=True)
    table[table.split == "train"].to_csv(root / "annotations/train.csv", index=False)
    table[table.split == "val"].to_csv(root / "annotations/val.csv", index=False)
    # the labelled test list CVDF has served since 2021-09-20, without is_cc
    table[table.split == "test"].drop(columns="is_cc").to_csv(root / "annotations/test.csv", index=False)
    train = by_split["train"]
    for split in ("train", "val", "test"):
        (root / split).mkdir()
    tar_of(train[::2], root / "train/part_0.tar.gz", inner="train/")
    tar_of(train[1::2], root / "train/part_1.tar.gz", gzip=False)  # CVDF's part_120 was a plain tar
    tar_of(by_split["val"], root / "val/part_0.tar.gz", inner="val/deep/")
    tar_of(by_split["test"], root / "test/part_0.tar.gz", inner="./")  # CVDF's member names
    for split, count in (("train", 2), ("val", 1), ("test", 1)):
        lines = [f"https://s3.amazonaws.com/kinetics/400/{split}/part_{i}.tar.gz" for i in range(count)]
        (root / split / f"k400_{split}_path.txt").write_text("\n".join(lines) + "\n")
    tar_of(train[:1], root / "replacement_for_corrupted_k400.tgz", inner="replacement/")
    return served


@pytest.mark.long
def test_real_footage_from_a_loopback_mirror_to_table2(real_mirror, tmp_path):
    """download → frames → flow → train → predict → Tables 2 and 3 on real footage, exit 0, with a download report;
    Kinetics is scored on its labelled test list, the model selected on the validation list."""
    project = copy_project(tmp_path)
    with LoopbackServer(real_mirror) as srv:
        srv.plan("/k400/train/part_1.tar.gz", "drop")  # a dropped connection half-way: the job resumes it
        config = {
            "only": ["kinetics400"],
            "datasets": {"kinetics400": {
                "source": "download", "shards": 1,
                "download": {"mirrors": [f"{srv.url}/gone", f"{srv.url}/k400"],
                             "parts": {"train": 2, "val": 1, "test": 1},
                             "keep_archives": False},
            }},
            "frames": {"short_side": 32},
            "flow": {"tvl1": {"epsilon": 0.05}},
            "models": {"architectures": ["i3d"], "frames_scale": 0.125, "init": "scratch"},
            "transfer": {"kinetics_inits": ["scratch"]},
            "train": {"epochs": 2, "batch_size": 4, "crop_size": 32, "lr": 0.01},
            "test": {"crop_size": 32},
            "threads": 1,
        }
        (project / "real.yaml").write_text(yaml.safe_dump(config))
        out = snakemake(project, "results/table2.md", "results/table3.md", "--configfile", "real.yaml")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert ("/k400/train/part_1.tar.gz", "bytes=") in {(p, (r or "")[:6]) for p, r in srv.seen}
    report = pd.read_csv(project / "results/kinetics400/download_report.csv", keep_default_na=False)
    clips = report[report.kind == "clip"]
    assert set(clips.status) <= {"downloaded", "present"} and clips.item.nunique() == 4 * SEGMENTS
    manifest = pd.read_csv(project / "results/kinetics400/manifest.csv")
    assert (manifest.status == "ok").all() and len(manifest) == 4 * SEGMENTS
    assert not list((project / "resources/kinetics400/cvdf").rglob("*.tar.gz"))  # keep_archives: false
    table = pd.read_csv(project / "results/table2.csv")
    assert set(table.dataset) == {"kinetics400"}
    assert "data" in table and (table.data == "real").all()  # real Kinetics, from scratch: nothing stand-in
    assert set(manifest.split1) == {"train", "val", "test"} and (manifest.split1 == "test").sum() == 4
    assert set(table.test_set) == {"held-out test"}
    for name in ("table2", "table3"):
        md = (project / f"results/{name}.md").read_text()
        assert "Kinetics-400 held-out test: 4 of 4 listed" in md and "†" not in md
        assert "ours and the paper's are both on the held-out test set" in md
    log = (project / "logs/kinetics400/split1/i3d-rgb-scratch/train.log").read_text()
    assert "16 training clips, 4 validation clips" in log
    # nothing left to do, and a second run downloads nothing
    assert planned_rules(project, "results/table2.md", "--configfile", "real.yaml") == set()


def test_reading_what_a_user_placed_fetches_nothing(tmp_path):
    """A native layout already complete under root: the download job reports it present without a request."""
    from i3d.acquire.fetch import fetch_native

    root = tmp_path / "ucf101"
    (root / "ucfTrainTestlist").mkdir(parents=True)
    (root / "ucfTrainTestlist/classInd.txt").write_text("1 Walk\n")
    for n in (1, 2, 3):
        (root / f"ucfTrainTestlist/trainlist0{n}.txt").write_text("Walk/v_Walk_g08_c01.avi 1\n")
        (root / f"ucfTrainTestlist/testlist0{n}.txt").write_text("Walk/v_Walk_g01_c01.avi\n")
    for name in ("v_Walk_g08_c01.avi", "v_Walk_g01_c01.avi"):
        (root / "UCF-101/Walk").mkdir(parents=True, exist_ok=True)
        (root / "UCF-101/Walk" / name).write_bytes(b"placed by hand")
    rows = fetch_native("ucf101", root, ["http://127.0.0.1:9/nothing-listens-here"], progress=False)
    assert [r["status"] for r in rows] == ["present", "present"]
    shutil.rmtree(root / "UCF-101")


def test_the_report_names_the_mirror_that_served_each_archive(tmp_path):
    """The first mirror answers 404: each archive row's source is the second one, which served it."""
    from i3d.acquire.fetch import fetch_native

    served = tmp_path / "served"
    served.mkdir()
    ucf_archives(served)
    with LoopbackServer(served) as srv:
        rows = fetch_native("ucf101", tmp_path / "ucf101", [f"{srv.url}/gone", srv.url], checksums=False,
                            progress=False)
    archives = {r["item"]: r["source"] for r in rows if r["kind"] == "archive"}
    assert archives == {name: f"{srv.url}/{name}" for name in ("UCF101.rar",
                                                               "UCF101TrainTestSplits-RecognitionTask.zip")}


@pytest.fixture(scope="module")
def real_videos(tmp_path_factory) -> Path:
    """Whole real videos served as ``<server>/watch/<youtube id>.mp4``, and their Kinetics-style annotations
    (two 1 s segments of each, one past the video's end; an unlabelled test list) at ``<server>/k400/annotations``."""
    missing = [name for name in SOURCES.values() if not (REAL_CLIPS / name).is_file()]
    if missing:
        pytest.skip(f"real clips not fetched ({', '.join(missing)}): run tests/real_clips.sh")
    served = tmp_path_factory.mktemp("youtube")
    (served / "watch").mkdir()
    (served / "k400/annotations").mkdir(parents=True)
    rows = []
    for label, name in list(SOURCES.items())[:2]:
        youtube_id = f"{label[:4]}-{label[:1]}_00000"[:11]
        cut(REAL_CLIPS / name, served / "watch" / f"{youtube_id}.mp4", start=0, seconds=4)
        rows += [dict(label=label, youtube_id=youtube_id, time_start=1, time_end=2, split="train", is_cc=0),
                 dict(label=label, youtube_id=youtube_id, time_start=2, time_end=3, split="val", is_cc=0),
                 dict(label=label, youtube_id=youtube_id, time_start=30, time_end=40, split="train", is_cc=0)]
    rows.append(dict(label="box", youtube_id="removed0000", time_start=0, time_end=1, split="train", is_cc=0))
    table = pd.DataFrame(rows)
    table[table.split == "train"].to_csv(served / "k400/annotations/train.csv", index=False)
    table[table.split == "val"].to_csv(served / "k400/annotations/val.csv", index=False)
    # the mirror has all three lists; this test list is the 2017 one, without labels: validation is scored
    test = pd.DataFrame([dict(youtube_id="testonly000", time_start=0, time_end=1, split="test")])
    test.to_csv(served / "k400/annotations/test.csv", index=False)
    return served


def test_the_youtube_route_fetches_cuts_and_reports_each_clip(real_videos, tmp_path):
    """route: youtube through the workflow, yt-dlp's generic extractor on the loopback server: the clips are cut
    to their segments, a removed video and a segment past the end are reported unavailable with their reasons,
    which the manifest repeats."""
    project = copy_project(tmp_path)
    with LoopbackServer(real_videos) as srv:
        config = {"only": ["kinetics400"], "datasets": {"kinetics400": {
            "source": "download", "shards": 1,
            "download": {"mirrors": [f"{srv.url}/k400"], "route": "youtube",
                         "youtube": {"url_template": f"{srv.url}/watch/{{youtube_id}}.mp4", "jobs": 2, "pause_s": 0}},
        }}}
        (project / "yt.yaml").write_text(yaml.safe_dump(config))
        out = snakemake(project, "results/kinetics400/manifest.csv", "--configfile", "yt.yaml")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert not any("path.txt" in path for path, _ in srv.seen)  # no CVDF part lists on this route
    report = pd.read_csv(project / "results/kinetics400/download_report.csv", keep_default_na=False)
    clips = report[report.kind == "clip"].set_index("item")
    assert len(clips) == 7
    assert clips.loc["removed0000_000000_000001", "status"] == "unavailable"
    assert "404" in clips.loc["removed0000_000000_000001", "reason"]
    past = [item for item in clips.index if item.endswith("_000030_000040")]
    assert len(past) == 2 and (clips.loc[past, "status"] == "unavailable").all()
    assert (clips.drop(index=[*past, "removed0000_000000_000001"]).status == "downloaded").all()
    manifest = pd.read_csv(project / "results/kinetics400/manifest.csv", keep_default_na=False).set_index("clip_id")
    assert (manifest.status == "ok").sum() == 4
    assert "not downloaded (unavailable)" in manifest.loc["removed0000_000000_000001", "reason"]
    clip = project / "resources/kinetics400/clips/box-b_00000_000001_000002.mp4"
    assert abs(len(decode(clip, fps=25, short_side=32)) - 25) <= 1  # the 1 s segment, cut frame-accurately


def _an_hour_passes(project: Path) -> None:
    """Move every stored retry time of the YouTube batches an hour and a second back, as if that time had passed
    (the batches' state tables and their records of when to retry; nothing else in them changes)."""
    for path in (project / "resources/kinetics400/youtube").glob("state*.csv"):
        table = pd.read_csv(path, keep_default_na=False, dtype=str)
        table["next_try"] = [repr(float(t) - 3601) for t in table.next_try]
        table.to_csv(path, index=False)
    for path in (project / "results/kinetics400/download/youtube").glob("job*.retry.json"):
        record = json.loads(path.read_text())
        if record["retry_after"] is not None:
            record["retry_after"] -= 3601
        path.write_text(json.dumps(record))


@pytest.mark.long
def test_a_plain_rerun_retries_the_clips_whose_wait_has_passed(real_videos, tmp_path):
    """A clip that hit HTTP 429 leaves its batch "done"; a plain rerun plans nothing until the clip's wait
    (retry_base_s: an hour) has passed, then reruns that batch alone, which requests that clip alone; after that
    nothing is planned again."""
    project = copy_project(tmp_path)
    target = "results/kinetics400/manifest.csv"
    with LoopbackServer(real_videos) as srv:
        config = {"only": ["kinetics400"], "datasets": {"kinetics400": {
            "source": "download", "shards": 1,
            "download": {"mirrors": [f"{srv.url}/k400"], "route": "youtube",
                         "youtube": {"url_template": f"{srv.url}/watch/{{youtube_id}}.mp4", "jobs": 2, "pause_s": 0,
                                     "retry_base_s": 3600}},
        }}}
        (project / "yt.yaml").write_text(yaml.safe_dump(config))
        srv.plan("/watch/box-b_00000.mp4", "429")  # the first request for this video: Too Many Requests
        out = snakemake(project, target, "--configfile", "yt.yaml")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        report = pd.read_csv(project / "results/kinetics400/download_report.csv", keep_default_na=False)
        waiting = report.loc[report.status == "retry_later", "item"].tolist()
        assert len(waiting) == 1 and waiting[0].startswith("box-b_00000_"), report
        assert planned_rules(project, target, "--configfile", "yt.yaml") == set()  # not due yet
        _an_hour_passes(project)
        plan = snakemake(project, target, "--configfile", "yt.yaml", "-n")
        assert re.search(r"^kinetics_youtube\s+1$", plan.stdout, re.M), plan.stdout  # the one batch with the clip
        before = len(srv.seen)
        out = snakemake(project, target, "--configfile", "yt.yaml")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert {path for path, _ in srv.seen[before:]} == {"/watch/box-b_00000.mp4"}  # nothing that succeeded
        assert planned_rules(project, target, "--configfile", "yt.yaml") == set()  # and no rerun after the retry
    report = pd.read_csv(project / "results/kinetics400/download_report.csv", keep_default_na=False).set_index("item")
    assert report.loc[waiting[0], "status"] == "downloaded"
    assert (report.loc[report.kind == "clip", "status"] != "retry_later").all()
    assert (pd.read_csv(project / target).status == "ok").sum() == 4


def test_the_youtube_route_plans_batches_not_clips(tmp_path):
    project = copy_project(tmp_path)
    (project / "yt.yaml").write_text(yaml.safe_dump({"only": "kinetics400", "datasets": {"kinetics400": {
        "source": "download", "download": {"route": "youtube", "youtube": {"jobs": 5}}}}}))
    plan = planned_rules(project, "--configfile", "yt.yaml")
    assert {"kinetics_annotations", "kinetics_youtube", "download_report"} <= plan
    assert "kinetics_part" not in plan
    out = snakemake(project, "-n", "--configfile", "yt.yaml")
    assert re.search(r"^kinetics_youtube\s+5$", out.stdout, re.M)


@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_native_archives_through_the_workflow(dataset, tmp_path):
    """UCF-101/HMDB-51 from a mirror list whose first entry is gone (archives built as zip/tar under the real
    names, as a re-packing mirror serves them): the archives are reported, a listed video the archive lacks is
    reported unavailable and marked so in the manifest; a forced rerun fetches nothing."""
    served = tmp_path / "served"
    served.mkdir()
    (ucf_archives if dataset == "ucf101" else hmdb_archives)(served)
    project = copy_project(tmp_path / "project")
    with LoopbackServer(served) as srv:
        config = {"only": [dataset], "datasets": {dataset: {
            "source": "download", "shards": 1,
            "download": {"mirrors": [f"{srv.url}/gone", srv.url], "keep_archives": False,
                         "checksums": False}}}}  # the split RAR's published md5 is not our stand-in's
        (project / "native.yaml").write_text(yaml.safe_dump(config))
        target = f"results/{dataset}/manifest.csv"
        out = snakemake(project, target, "--configfile", "native.yaml")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        fetched = len(srv.seen)
        again = snakemake(project, target, "--configfile", "native.yaml", "--forcerun", "download_native")
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(srv.seen) == fetched  # installed: nothing requested again
    report = pd.read_csv(project / f"results/{dataset}/download_report.csv", keep_default_na=False)
    archives = report[report.kind == "archive"]
    assert len(archives) == 2 and set(archives.status) == {"present"}  # the rerun's report
    manifest = pd.read_csv(project / target, keep_default_na=False)
    assert not list((project / f"resources/{dataset}/archives").glob("*"))  # keep_archives: false
    if dataset == "ucf101":
        missing = manifest.set_index("clip_id").loc[Path(UCF_MISSING).stem]
        assert missing.status == "missing" and "not in the archive" in missing.reason
        assert (manifest.status == "ok").sum() == len(UCF_CLIPS)
    else:
        assert (manifest.status == "ok").sum() == sum(map(len, HMDB_CLIPS.values()))
