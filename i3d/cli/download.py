"""``i3d download ...`` (workflow/rules/download.smk): real datasets into their native layout, one job each."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..data import DATASETS
from .common import _add_common, _add_kinetics_test_option, _add_subset_options, _subset_classes


@contextmanager
def _download_errors() -> Iterator[None]:
    """A transfer that failed on every mirror, or too little disk, ends the job with the message alone (the
    partial file is kept for the rerun), not a traceback."""
    from ..acquire.download import DownloadError, InsufficientSpace

    try:
        yield
    except (DownloadError, InsufficientSpace) as err:
        sys.exit(f"i3d download: {err}")


def _report(rows: list[dict], out: str) -> None:
    from ..acquire.report import summary, write_report

    table = write_report(rows, out)
    print(f"{summary(table)} -> {out}")


def _mirrors(args: argparse.Namespace, dataset: str) -> list[str]:
    from ..acquire.sources import default_mirrors

    return args.mirrors or default_mirrors(dataset, getattr(args, "version", "400"))


def _download_native(args: argparse.Namespace) -> None:
    from ..acquire.fetch import fetch_native

    with _download_errors():
        rows = fetch_native(args.dataset, args.root, _mirrors(args, args.dataset), verify_tls=not args.no_verify_tls,
                            checksums=not args.no_checksums, keep_archives=not args.remove_archives,
                            progress=not args.quiet)
    _report(rows, args.report)


def _download_kinetics_annotations(args: argparse.Namespace) -> None:
    from ..acquire.cvdf import fetch_annotations

    with _download_errors():
        splits = ("train", "val") if args.no_kinetics_test else ("train", "val", "test")
        rows = fetch_annotations(_mirrors(args, "kinetics400"), Path(args.root), version=args.version,
                                 verify_tls=not args.no_verify_tls, splits=splits,
                                 path_lists=not args.no_path_lists, progress=not args.quiet)
    _report(rows, args.report)


def _download_kinetics_part(args: argparse.Namespace) -> None:
    """One CVDF part (or, with --replacement, the replacement archive and the report of clips in no part).
    A part that no mirror could serve fails the job after its report is written: the partial file is kept
    and a rerun (Snakemake reruns a failed job) resumes it. One that no mirror has (404/410) or whose content
    is refused is reported unavailable, and the job succeeds."""
    from ..acquire.cvdf import PartCountMismatch, absent_rows, fetch_part, fetch_replacement
    from ..acquire.fetch import kinetics_clips

    # the listed clips (of the subset), not all: parts hold clips that no annotation lists, and these are neither
    # extracted nor counted (a test list without labels, which the manifest does not read: its parts whole)
    wanted = kinetics_clips(args.root, _subset_classes(args.subset_classes), args.max_per_class,
                            test=not args.no_kinetics_test)
    common = dict(version=args.version, verify_tls=not args.no_verify_tls, keep_archive=not args.remove_archives,
                  progress=not args.quiet)
    mirrors, root = _mirrors(args, "kinetics400"), Path(args.root)
    with _download_errors():
        if args.replacement:
            rows = fetch_replacement(mirrors, root, wanted=wanted["train"] | wanted["val"], **common)
            rows += [row for split, clips in wanted.items()
                     for row in absent_rows(root, split, clips, version=args.version)]
        else:
            try:
                rows = fetch_part(mirrors, root, args.split, args.index, wanted=wanted.get(args.split),
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
    from ..data.annotations import read_annotations, select_subset
    from ..acquire.retry import write_retry_record
    from ..acquire.youtube import ClipRequest, download_clips, next_retry

    manifest = read_annotations("kinetics400", args.root, kinetics_test=not args.no_kinetics_test)
    manifest = select_subset(manifest, _subset_classes(args.subset_classes), args.max_per_class)
    mine = manifest.iloc[args.job::args.jobs]  # every jobs-th clip: jobs get alike mixes of classes and splits
    # from the id: the time columns are empty for a clip already on disk
    requests = [ClipRequest.from_clip_id(clip_id) for clip_id in mine.clip_id]
    state = Path(args.root) / "youtube" / f"state{args.job:03d}.csv"
    rows = download_clips(requests, Path(args.root) / "clips", state, url_template=args.url_template,
                          pause_s=args.pause_s, cookies=args.cookies, retry_base_s=args.retry_base_s,
                          progress=not args.quiet)
    _report(rows, args.report)
    if args.retry_record:
        write_retry_record(args.retry_record, next_retry(rows, state), args.retry_mark)


def _download_report(args: argparse.Namespace) -> None:
    from ..acquire.report import merge_reports, summary

    table = merge_reports(args.reports, args.out)
    print(f"{args.dataset}: {summary(table)} -> {args.out}")
    for row in table[table.status.isin(["unavailable", "retry_later"])].head(20).itertuples():
        print(f"  {row.item}: {row.status}: {row.reason}")


def _add_download_options(p: argparse.ArgumentParser, mirrors_help: str) -> None:
    """What every ``i3d download`` job takes: where the dataset goes, where from, and where its report goes."""
    p.add_argument("--root", required=True, help="dataset folder (native layout)")
    p.add_argument("--mirrors", nargs="+", default=None, metavar="URL", help=mirrors_help)
    p.add_argument("--no-verify-tls", action="store_true",
                   help="accept any TLS certificate from these mirrors (a server with a broken chain)")
    p.add_argument("--report", required=True, help="this job's report CSV (one row per archive or clip)")
    _add_common(p)


def _download_file(args: argparse.Namespace) -> None:
    from ..acquire.download import download

    with _download_errors():
        url = download([args.url], args.dst, sha256=args.sha256, progress=not args.quiet)
    print(f"{url} -> {args.dst}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``i3d download`` and its subcommands."""
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
    _add_kinetics_test_option(p)
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
    p.add_argument("--retry-record", default=None, metavar="JSON",
                   help="write here when this batch is due again, with --retry-mark (the workflow's rerun trigger)")
    p.add_argument("--retry-mark", default="none", help="the value the workflow ran this batch with (its params)")
    _add_subset_options(p)
    p.set_defaults(func=_download_kinetics_youtube)
    p = download.add_parser("file", help="one file (e.g. released weights), resumable and retried; renamed into "
                            "place once complete")
    p.add_argument("--url", required=True)
    p.add_argument("--sha256", default=None, help="expected sha256 or a prefix of it (default: not checked)")
    p.add_argument("dst")
    _add_common(p)
    p.set_defaults(func=_download_file)
    p = download.add_parser("report", help="merge a dataset's per-job download reports into one, with counts")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--out", required=True)
    p.add_argument("reports", nargs="*", help="the jobs' report CSVs")
    p.set_defaults(func=_download_report)
