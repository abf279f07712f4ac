"""The Kinetics CVDF route (i3d.acquire.cvdf) against a CVDF-style mirror on the loopback server: path lists with
absolute S3 URLs, gzipped and plain tar parts, nested member paths, the replacement archive, K700-2020 and K600
naming, faults on demand. The clips are small stand-in files: the manifest reader only needs them to exist."""
from __future__ import annotations

import csv
import io
import json
import random
import socket
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from i3d.acquire import cvdf
from i3d.data.annotations import kinetics_clip_id, read_annotations
from i3d.acquire.archives import ArchiveError
from i3d.cli import main
from i3d.acquire.cvdf import (
    PartCountMismatch,
    absent_rows,
    fetch_annotations,
    fetch_part,
    fetch_replacement,
    part_count,
    part_names,
)
from loopback import LoopbackServer

S3 = "https://s3.amazonaws.com/kinetics"
TRAIN = [("abseiling", "aaaaaaaaaa1", 10), ("abseiling", "aaaaaaaaaa2", 20), ("air drumming", "bbbbbbbbbb1", 30),
         ("air drumming", "bbbbbbbbbb2", 40), ("air drumming", "notinanypart", 50)]
VAL = [("abseiling", "ccccccccccc", 60), ("air drumming", "ddddddddddd", 70)]


def _clip(youtube_id: str, start: int) -> str:
    return kinetics_clip_id(youtube_id, start, start + 10)


def _content(clip: str, tag: str = "") -> bytes:
    """A stand-in clip: 80 kB of bytes distinct per clip and incompressible, so a part is a few 64 kB chunks
    long and a dropped transfer leaves part of it behind."""
    return random.Random(tag + clip).randbytes(80_000)


def _tar(path: Path, members: dict[str, bytes], *, gzip: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if gzip else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _csv(path: Path, split: str, rows: list[tuple[str, str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        writer.writerows([label, vid, start, start + 10, split, 0] for label, vid, start in rows)


def _path_list(path: Path, urls: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(url + "\n" for url in urls))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """``<root>/400``: K400's layout; train part 0 nests its clips, part 1 is a plain tar named .tar.gz (like
    CVDF's part_120); ``notinanypart`` is annotated but in no part (CVDF lacks ~6,000 clips)."""
    root = tmp_path_factory.mktemp("mirror")
    k400 = root / "400"
    _csv(k400 / "annotations" / "train.csv", "train", TRAIN)
    _csv(k400 / "annotations" / "val.csv", "val", VAL)
    a1, a2, b1, b2 = (_clip(v, s) for _, v, s in TRAIN[:4])
    _tar(k400 / "train" / "part_0.tar.gz", {f"train/part_0/{c}.mp4": _content(c) for c in (a1, b1)}
         | {"train/part_0/README.txt": b"not a clip"})
    _tar(k400 / "train" / "part_1.tar.gz", {f"{c}.mp4": _content(c) for c in (a2, b2)}, gzip=False)
    _path_list(k400 / "train" / "k400_train_path.txt", [f"{S3}/400/train/part_{i}.tar.gz" for i in range(2)])
    val = [_clip(v, s) for _, v, s in VAL]
    _tar(k400 / "val" / "part_0.tar.gz", {f"val/{c}.mp4": _content(c) for c in val})
    _path_list(k400 / "val" / "k400_val_path.txt", [f"{S3}/400/val/part_0.tar.gz"])
    # not in a path list: a test names it in its own (a member outside the destination, after a good one)
    _tar(k400 / "train" / "part_evil.tar.gz", {f"{a1}.mp4": _content(a1), "../../escape.mp4": b"pwned"})
    _tar(k400 / "replacement_for_corrupted_k400.tgz",
         {f"replacement/replacement_for_corrupted_k400/{a1}.mp4": _content(a1, "fixed")})
    k700 = root / "700_2020"
    _csv(k700 / "annotations" / "train.csv", "train", TRAIN[:1])
    _tar(k700 / "train" / "part_0.tar.gz", {f"{a1}.mp4": _content(a1)})
    _path_list(k700 / "train" / "k700_2020_train_path.txt", [f"{S3}/700_2020/train/part_0.tar.gz"])
    k600 = root / "600"
    _tar(k600 / "val" / "mountain climber (exercise).tar.gz", {f"mountain climber (exercise)/{a2}.mp4": _content(a2)})
    _tar(k600 / "val" / "air drumming.tar.gz", {f"air drumming/{b2}.mp4": _content(b2)})
    _path_list(k600 / "val" / "k600_val_path.txt", [f"{S3}/600/val/mountain climber (exercise).tar.gz",
                                                    f"{S3}/600/val/air%20drumming.tar.gz"])
    return root


@pytest.fixture
def srv(mirror):
    with LoopbackServer(mirror) as server:
        yield server


def _mirrors(srv, version="400"):
    return [f"{srv.url}/gone/{version}", f"{srv.url}/{version}"]  # the first mirror answers 404 to everything


def _requests(srv, path):
    """The requests for ``path`` at the working mirror."""
    return [seen for seen, _ in srv.seen if seen == path]


def _status(rows):
    return {(r["kind"], r["item"]): r["status"] for r in rows}


def test_annotations_and_path_lists_arrive_under_the_readers_names(srv, tmp_path, mirror):
    rows = fetch_annotations(_mirrors(srv), tmp_path, progress=False)
    assert (tmp_path / "annotations" / "validate.csv").read_bytes() == (mirror / "400/annotations/val.csv").read_bytes()
    assert (tmp_path / "annotations" / "train.csv").is_file()
    assert part_names(tmp_path, "train") == ["part_0.tar.gz", "part_1.tar.gz"]
    assert {r["status"] for r in rows} == {"downloaded"} and len(rows) == 4
    assert {r["source"] for r in rows} == {f"{srv.url}/400/{rel}" for rel in (  # the mirror that served each
        "annotations/train.csv", "annotations/val.csv", "train/k400_train_path.txt", "val/k400_val_path.txt")}
    before = len(srv.seen)
    assert {r["status"] for r in fetch_annotations(_mirrors(srv), tmp_path, progress=False)} == {"present"}
    assert len(srv.seen) == before


def _setup(srv, tmp_path, version="400", splits=("train", "val")):
    fetch_annotations(_mirrors(srv, version), tmp_path, version=version, splits=splits, progress=False)


def test_a_part_is_extracted_flat_marked_and_its_tarball_removed(srv, tmp_path):
    _setup(srv, tmp_path)
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    a1, b1 = _clip("aaaaaaaaaa1", 10), _clip("bbbbbbbbbb1", 30)
    assert _status(rows) == {("archive", "part_0.tar.gz"): "downloaded", ("clip", a1): "downloaded",
                             ("clip", b1): "downloaded"}
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == sorted([f"{a1}.mp4", f"{b1}.mp4"])
    assert rows[0]["source"] == f"{srv.url}/400/train/part_0.tar.gz"  # the mirror that served it, not the first
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1)
    assert not (tmp_path / "cvdf" / "train" / "part_0.tar.gz").exists()
    marker = json.loads((tmp_path / "cvdf" / "train" / "part_0.done").read_text())
    assert marker["extracted"] == {f"{a1}.mp4": len(_content(a1)), f"{b1}.mp4": len(_content(b1))}


def test_a_plain_tar_named_tar_gz_is_extracted(srv, tmp_path):
    _setup(srv, tmp_path)
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 1, progress=False, keep_archive=True)
    assert _status(rows)[("clip", _clip("bbbbbbbbbb2", 40))] == "downloaded"
    assert (tmp_path / "cvdf" / "train" / "part_1.tar.gz").is_file()  # keep_archive


def test_a_rerun_after_the_tarball_was_removed_downloads_nothing(srv, tmp_path):
    _setup(srv, tmp_path)
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 1
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 1
    assert set(_status(rows).values()) == {"present"} and len(rows) == 3


def test_a_deleted_clip_brings_the_part_back(srv, tmp_path):
    _setup(srv, tmp_path)
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    (tmp_path / "clips" / f"{_clip('aaaaaaaaaa1', 10)}.mp4").unlink()
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 2
    assert (tmp_path / "clips" / f"{_clip('aaaaaaaaaa1', 10)}.mp4").is_file()


def test_a_dropped_transfer_resumes_where_it_stopped(srv, tmp_path):
    _setup(srv, tmp_path)
    srv.plan("/400/train/part_0.tar.gz", "drop")
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert _status(rows)[("archive", "part_0.tar.gz")] == "downloaded"
    ranges = [rng for path, rng in srv.seen if path == "/400/train/part_0.tar.gz"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert (tmp_path / "clips" / f"{_clip('aaaaaaaaaa1', 10)}.mp4").read_bytes() == _content(_clip("aaaaaaaaaa1", 10))


def test_a_part_no_mirror_serves_is_retried_later(srv, tmp_path):
    _setup(srv, tmp_path)
    with socket.socket() as sock:  # a port on 127.0.0.1 that nothing listens on (once closed)
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/400"
    rows = fetch_part([f"{srv.url}/gone/400", closed], tmp_path, "train", 0, progress=False)
    assert _status(rows) == {("archive", "part_0.tar.gz"): "retry_later"}  # one mirror may have it once it is up
    assert "404" in rows[0]["reason"] and "cannot connect" in rows[0]["reason"]
    assert not (tmp_path / "cvdf" / "train" / "part_0.done").exists()


def test_a_part_no_mirror_has_is_unavailable(srv, tmp_path):
    """Every mirror answers 404: the part is recorded unavailable (its job succeeds, the pipeline goes on) and
    the split's wanted clips that no other part holds are reported unavailable."""
    _setup(srv, tmp_path)
    rows = fetch_part([f"{srv.url}/gone/400", f"{srv.url}/gone/too"], tmp_path, "train", 0, progress=False)
    assert _status(rows) == {("archive", "part_0.tar.gz"): "unavailable"}
    assert "HTTP 404" in rows[0]["reason"] and "no mirror has it" in rows[0]["reason"]
    fetch_part(_mirrors(srv), tmp_path, "train", 1, progress=False)
    a1 = _clip("aaaaaaaaaa1", 10)
    rows = absent_rows(tmp_path, "train", {a1, _clip("aaaaaaaaaa2", 20)})
    assert _status(rows) == {("clip", a1): "unavailable"} and "1 of them unavailable (part_0)" in rows[0]["reason"]
    assert set(_status(fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)).values()) == {"downloaded"}
    assert absent_rows(tmp_path, "train", {a1}) == []  # the mirror has it again: no longer unavailable


def test_an_unsafe_part_is_kept_as_evidence_and_not_fetched_again(srv, tmp_path):
    (tmp_path / "cvdf").mkdir()
    (tmp_path / "cvdf" / "train_path.txt").write_text(f"{S3}/400/train/part_evil.tar.gz\n")
    for _ in range(2):  # the rerun extracts the kept archive again: the same answer, no download
        rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
        assert _status(rows) == {("archive", "part_evil.tar.gz"): "unavailable"}
        assert "'../../escape.mp4' would be written outside the destination" in rows[0]["reason"]
        assert "delete it to download it again" in rows[0]["reason"]
        assert (tmp_path / "cvdf" / "train" / "part_evil.tar.gz").is_file()
    assert len(_requests(srv, "/400/train/part_evil.tar.gz")) == 1
    assert not list(tmp_path.parent.glob("escape.mp4")) and not list(tmp_path.rglob("escape.mp4"))


def test_a_corrupt_part_is_removed_and_retried_later(srv, tmp_path):
    _setup(srv, tmp_path)
    srv.plan("/400/train/part_0.tar.gz", "wrong")  # the right length, other bytes
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert _status(rows) == {("archive", "part_0.tar.gz"): "retry_later"}
    assert not (tmp_path / "cvdf" / "train" / "part_0.tar.gz").exists()
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert _status(rows)[("archive", "part_0.tar.gz")] == "downloaded"


def test_an_incomplete_extraction_is_not_marked_done(srv, tmp_path, monkeypatch):
    _setup(srv, tmp_path)
    real_extract = cvdf.extract
    monkeypatch.setattr(cvdf, "extract", lambda *a, **kw: real_extract(*a, **kw)[:-1])  # one clip goes missing
    with pytest.raises(ArchiveError, match="not extracted"):
        fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert not (tmp_path / "cvdf" / "train" / "part_0.done").exists()


def test_a_subset_extracts_only_the_wanted_clips(srv, tmp_path):
    _setup(srv, tmp_path)
    a1 = _clip("aaaaaaaaaa1", 10)
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, wanted={a1, "not_in_this_part"}, progress=False)
    assert _status(rows) == {("archive", "part_0.tar.gz"): "downloaded", ("clip", a1): "downloaded"}
    assert [p.name for p in (tmp_path / "clips").iterdir()] == [f"{a1}.mp4"]
    fetch_part(_mirrors(srv), tmp_path, "train", 0, wanted={a1}, progress=False)
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 1
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)  # all clips now: the marker does not cover it
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 2
    assert len(list((tmp_path / "clips").iterdir())) == 2


def test_the_replacement_overwrites_a_corrupt_clip(srv, tmp_path):
    _setup(srv, tmp_path)
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    a1 = _clip("aaaaaaaaaa1", 10)
    rows = fetch_replacement(_mirrors(srv), tmp_path, progress=False)
    assert _status(rows) == {("archive", "replacement_for_corrupted_k400.tgz"): "downloaded",
                             ("clip", a1): "downloaded"}
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1, "fixed")
    # the part's marker still holds after the replacement changed the clip's size
    assert set(_status(fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)).values()) == {"present"}
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1, "fixed")


def test_a_re_extracted_part_keeps_the_replacement_clips(srv, tmp_path):
    """A part extracted again after the replacement (a clip of it went missing; or --forcerun) must not bring
    the corrupt originals back: the same size as the re-encoded copies, so only their content tells."""
    _setup(srv, tmp_path)
    a1, b1 = _clip("aaaaaaaaaa1", 10), _clip("bbbbbbbbbb1", 30)
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    fetch_replacement(_mirrors(srv), tmp_path, progress=False)
    (tmp_path / "clips" / f"{b1}.mp4").unlink()
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert len(_requests(srv, "/400/train/part_0.tar.gz")) == 2
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1, "fixed")
    assert (tmp_path / "clips" / f"{b1}.mp4").read_bytes() == _content(b1)
    assert _status(rows)[("clip", a1)] == "present" and _status(rows)[("clip", b1)] == "downloaded"
    assert set(_status(fetch_replacement(_mirrors(srv), tmp_path, progress=False)).values()) == {"present"}
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1, "fixed")


def test_the_replacement_is_done_by_its_clips_content_not_their_presence(srv, tmp_path):
    """A replacement clip lost and brought back by its part (the corrupt original, nothing better on disk)
    makes the replacement job fetch its archive again."""
    _setup(srv, tmp_path)
    a1 = _clip("aaaaaaaaaa1", 10)
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    fetch_replacement(_mirrors(srv), tmp_path, progress=False)
    (tmp_path / "clips" / f"{a1}.mp4").unlink()
    fetch_part(_mirrors(srv), tmp_path, "train", 0, progress=False)
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1)
    rows = fetch_replacement(_mirrors(srv), tmp_path, progress=False)
    assert _status(rows)[("archive", "replacement_for_corrupted_k400.tgz")] == "downloaded"
    assert (tmp_path / "clips" / f"{a1}.mp4").read_bytes() == _content(a1, "fixed")


def test_k700_2020_naming(srv, tmp_path):
    _setup(srv, tmp_path, "700_2020", splits=("train",))
    assert part_count(tmp_path, "train", version="700_2020") == 1
    rows = fetch_part(_mirrors(srv, "700_2020"), tmp_path, "train", 0, version="700_2020", progress=False)
    assert _status(rows)[("clip", _clip("aaaaaaaaaa1", 10))] == "downloaded"
    assert _requests(srv, "/700_2020/train/part_0.tar.gz") == ["/700_2020/train/part_0.tar.gz"]


@pytest.mark.parametrize(("index", "name"), [(0, "mountain climber (exercise).tar.gz"), (1, "air drumming.tar.gz")])
def test_k600_part_names_with_spaces_and_parentheses(srv, tmp_path, mirror, index, name):
    (tmp_path / "cvdf").mkdir()  # K600's path list as fetch_annotations would store it (its CSVs are not needed)
    (tmp_path / "cvdf" / "val_path.txt").write_text((mirror / "600/val/k600_val_path.txt").read_text())
    rows = fetch_part(_mirrors(srv, "600"), tmp_path, "val", index, version="600", progress=False)
    assert _status(rows)[("archive", name)] == "downloaded"
    assert _requests(srv, f"/600/val/{name}") == [f"/600/val/{name}"]
    assert len(list((tmp_path / "clips").glob("*.mp4"))) == 1


def test_the_manifest_marks_extracted_clips_ok_and_the_rest_missing(srv, tmp_path):
    _setup(srv, tmp_path)
    assert part_count(tmp_path, "train") == 2  # the fetched path list is the mirror's word (not K400's 242)
    for split, index in (("train", 0), ("train", 1), ("val", 0)):
        fetch_part(_mirrors(srv), tmp_path, split, index, progress=False)
    manifest = read_annotations("kinetics400", tmp_path).set_index("clip_id")
    missing = _clip("notinanypart", 50)
    assert (manifest.drop(index=missing).status == "ok").all()
    assert manifest.loc[missing, "status"] == "missing"
    assert len(manifest) == len(TRAIN) + len(VAL)
    assert manifest.loc[_clip("ddddddddddd", 70), "split1"] == "test"


def test_clips_in_no_part_are_reported_unavailable(srv, tmp_path):
    _setup(srv, tmp_path, "700_2020", splits=("train",))  # a version whose part count is its path list's
    wanted = {_clip("aaaaaaaaaa1", 10), _clip("notinanypart", 50)}
    rows = absent_rows(tmp_path, "train", wanted, version="700_2020")  # before its part: not known yet
    assert set(_status(rows).values()) == {"retry_later"} and len(rows) == 2
    assert "1 part(s) not extracted yet (e.g. part_0)" in rows[0]["reason"]
    fetch_part(_mirrors(srv, "700_2020"), tmp_path, "train", 0, version="700_2020", wanted=wanted, progress=False)
    rows = absent_rows(tmp_path, "train", wanted, version="700_2020")
    assert _status(rows) == {("clip", _clip("notinanypart", 50)): "unavailable"}


def test_a_clip_no_annotation_lists_is_not_counted(tmp_path):
    """Real parts hold clips that no annotation CSV lists (the CSVs and the tarballs were made at different times):
    the part and replacement jobs (no subset) do not report them as fetched, nor does the manifest list them."""
    from i3d.cli import main

    served = tmp_path / "served" / "400"
    _csv(served / "annotations" / "train.csv", "train", TRAIN[:1])
    _csv(served / "annotations" / "val.csv", "val", VAL[:1])
    listed, val = _clip(*TRAIN[0][1:]), _clip(*VAL[0][1:])
    stray, stray2 = _clip("strayclip01", 10), _clip("strayclip02", 20)
    _tar(served / "train" / "part_0.tar.gz", {f"{c}.mp4": _content(c) for c in (listed, stray)})
    _tar(served / "val" / "part_0.tar.gz", {f"{val}.mp4": _content(val)})
    _tar(served / "replacement_for_corrupted_k400.tgz", {f"{c}.mp4": _content(c, "fixed") for c in (listed, stray2)})
    for split in ("train", "val"):
        _path_list(served / split / f"k400_{split}_path.txt", [f"{S3}/400/{split}/part_0.tar.gz"])
    root, reports = tmp_path / "k400", tmp_path / "reports"
    with LoopbackServer(served.parent) as srv:
        # a mirror without the test list: every job is told to leave it out, as download.test_set: false does
        common = ["--root", str(root), "--mirrors", f"{srv.url}/400", "--quiet", "--no-kinetics-test"]
        main(["download", "kinetics-annotations", *common, "--report", str(reports / "annotations.csv")])
        for split in ("train", "val"):
            main(["download", "kinetics-part", *common, "--split", split, "--index", "0",
                  "--report", str(reports / f"{split}.csv")])
        main(["download", "kinetics-part", "--replacement", *common, "--report", str(reports / "replacement.csv")])
    table = pd.concat([pd.read_csv(reports / f"{name}.csv", keep_default_na=False)
                       for name in ("train", "val", "replacement")])
    clips = table[table.kind == "clip"]
    assert set(clips.item) == {listed, val} and set(clips.status) == {"downloaded"}
    manifest = read_annotations("kinetics400", root)
    assert set(manifest.clip_id) == {listed, val} and (manifest.status == "ok").all()


def test_a_configured_part_count_unlike_the_path_list_is_refused(srv, tmp_path):
    _setup(srv, tmp_path)
    with pytest.raises(PartCountMismatch, match=r"download\.parts\.train is 3, but .*train_path\.txt lists 2 "):
        fetch_part(_mirrors(srv), tmp_path, "train", 0, parts=3, progress=False)
    assert _requests(srv, "/400/train/part_0.tar.gz") == []
    rows = fetch_part(_mirrors(srv), tmp_path, "train", 0, parts=2, progress=False)
    assert _status(rows)[("archive", "part_0.tar.gz")] == "downloaded"


def test_the_part_job_fails_on_a_wrong_count_and_succeeds_on_an_unavailable_part(srv, tmp_path, capsys):
    _setup(srv, tmp_path)
    job = ["download", "kinetics-part", "--root", str(tmp_path), "--split", "val", "--index", "0", "--quiet",
           "--report", str(tmp_path / "part.csv")]
    with pytest.raises(SystemExit, match=r"i3d download: download\.parts\.val is 20, but .* lists 1 val parts"):
        main([*job, "--mirrors", *_mirrors(srv), "--parts", "20"])
    assert main([*job, "--mirrors", f"{srv.url}/gone/400", "--parts", "1"]) == 0
    assert "i3d download: part_0.tar.gz is unavailable: no mirror has it" in capsys.readouterr().err
