# download (source: download): fetch what is missing of a real dataset into its root, in the native layout that
# source: local reads, and write a download report. Downloads carry no code fingerprint: a changed downloader
# does not fetch 450 GB again (rerun a download job by hand: snakemake --forcerun kinetics_part). A YouTube batch
# whose clips wait for a retry is rerun by a plain run once the first wait has passed (i3d.acquire.retry).
import shlex

from i3d.acquire.retry import retry_mark
from i3d.acquire.sources import KINETICS_PARTS


def download_cfg(dataset):
    return config["datasets"][dataset]["download"]


def download_args(dataset, archives=True):
    """The command-line options every download job of ``dataset`` shares (mirrors, TLS, archives kept)."""
    d = download_cfg(dataset)
    args = [f"--root {shlex.quote(config['datasets'][dataset]['root'])}"]
    if d["mirrors"]:
        args.append("--mirrors " + " ".join(shlex.quote(m) for m in d["mirrors"]))
    if not d["verify_tls"]:
        args.append("--no-verify-tls")
    if archives and not d["keep_archives"]:
        args.append("--remove-archives")
    return " ".join(args)


def checksum_args(dataset):
    return "" if download_cfg(dataset)["checksums"] else "--no-checksums"


def subset_args(dataset):
    s = config["datasets"][dataset]["subset"]
    args = []
    if s["classes"] is not None:
        names = [s["classes"]] if isinstance(s["classes"], int) else s["classes"]
        args.append("--subset-classes " + " ".join(shlex.quote(str(c)) for c in names))
    if s["max_per_class"] is not None:
        args.append(f"--max-per-class {s['max_per_class']}")
    return " ".join(arg for arg in (*args, kinetics_test_arg(dataset)) if arg)


def kinetics_test_arg(dataset):
    """download.test_set false: every job reading Kinetics' lists leaves the labelled test list out."""
    return "" if not dataset.startswith("kinetics") or download_cfg(dataset)["test_set"] else "--no-kinetics-test"


def kinetics_parts(dataset):
    """Part archives per split on the CVDF mirror (download.parts overrides the built-in counts; each part job
    checks its split's count against the mirror's path list); the test parts unless download.test_set is false."""
    splits = ("train", "val", "test") if download_cfg(dataset)["test_set"] else ("train", "val")
    return {split: download_cfg(dataset)["parts"].get(split, KINETICS_PARTS["400"][split]) for split in splits}


def download_reports(wc):
    """Input function: every download job's report of a dataset (a static list: the DAG stays small)."""
    ds = wc.dataset
    if not ds.startswith("kinetics"):
        return [f"results/{ds}/download/native.csv"]
    reports = [f"results/{ds}/download/annotations.csv"]
    if download_cfg(ds)["route"] == "youtube":
        jobs = download_cfg(ds)["youtube"]["jobs"]
        return reports + [f"results/{ds}/download/youtube/job{j:03d}.csv" for j in range(jobs)]
    for split, count in kinetics_parts(ds).items():
        reports += [f"results/{ds}/download/{split}/part{i:03d}.csv" for i in range(count)]
    return reports + [f"results/{ds}/download/replacement.csv"]


rule download_native:
    output:
        "results/{dataset}/download/native.csv",
    log:
        "logs/{dataset}/download/native.log",
    wildcard_constraints:
        dataset="ucf101|hmdb51",
    params:
        args=lambda wc: download_args(wc.dataset),
        checksums=lambda wc: checksum_args(wc.dataset),
    threads: 1
    resources:
        downloads=1,
        runtime=720,
    shell:
        "i3d download native --dataset {wildcards.dataset} {params.args} {params.checksums} --report {output}"
        " > {log} 2>&1"


rule kinetics_annotations:
    output:
        "results/{dataset}/download/annotations.csv",
    log:
        "logs/{dataset}/download/annotations.log",
    wildcard_constraints:
        dataset="kinetics400",
    params:
        args=lambda wc: download_args(wc.dataset, archives=False),
        parts=lambda wc: "--no-path-lists" if download_cfg(wc.dataset)["route"] == "youtube" else "",
        test=lambda wc: kinetics_test_arg(wc.dataset),
    threads: 1
    resources:
        downloads=1,
        runtime=30,
    shell:
        "i3d download kinetics-annotations {params.args} {params.parts} {params.test} --report {output} > {log} 2>&1"


rule kinetics_part:
    input:
        "results/{dataset}/download/annotations.csv",
    output:
        "results/{dataset}/download/{split}/part{index}.csv",
    log:
        "logs/{dataset}/download/{split}/part{index}.log",
    wildcard_constraints:
        dataset="kinetics400",
        split="train|val|test",
        index=r"\d{3}",
    params:
        args=lambda wc: download_args(wc.dataset),
        subset=lambda wc: subset_args(wc.dataset),
        parts=lambda wc: kinetics_parts(wc.dataset)[wc.split],
    threads: 1
    resources:
        downloads=1,
        runtime=240,
    shell:
        "i3d download kinetics-part {params.args} --split {wildcards.split} --index {wildcards.index}"
        " --parts {params.parts} {params.subset} --report {output} > {log} 2>&1"


rule kinetics_replacement:
    input:  # every part: the train parts' clips are replaced, and each split's absent clips are counted
        lambda wc: [f"results/{wc.dataset}/download/{split}/part{i:03d}.csv"
                    for split, count in kinetics_parts(wc.dataset).items() for i in range(count)],
    output:
        "results/{dataset}/download/replacement.csv",
    log:
        "logs/{dataset}/download/replacement.log",
    wildcard_constraints:
        dataset="kinetics400",
    params:
        args=lambda wc: download_args(wc.dataset),
        subset=lambda wc: subset_args(wc.dataset),
    threads: 1
    resources:
        downloads=1,
        runtime=120,
    shell:
        "i3d download kinetics-part --replacement {params.args} {params.subset} --report {output} > {log} 2>&1"


rule kinetics_youtube:
    input:
        "results/{dataset}/download/annotations.csv",
    output:
        report="results/{dataset}/download/youtube/job{job}.csv",
        retry="results/{dataset}/download/youtube/job{job}.retry.json",
    log:
        "logs/{dataset}/download/youtube/job{job}.log",
    wildcard_constraints:
        dataset="kinetics400",
        job=r"\d{3}",
    params:
        root=lambda wc: shlex.quote(config["datasets"][wc.dataset]["root"]),
        jobs=lambda wc: download_cfg(wc.dataset)["youtube"]["jobs"],
        yt=lambda wc: download_cfg(wc.dataset)["youtube"],
        url=lambda wc: shlex.quote(download_cfg(wc.dataset)["youtube"]["url_template"]),
        cookies=lambda wc: (f"--cookies {shlex.quote(download_cfg(wc.dataset)['youtube']['cookies'])}"
                            if download_cfg(wc.dataset)["youtube"]["cookies"] else ""),
        subset=lambda wc: subset_args(wc.dataset),
        # changes once the batch's first waiting clip is due: what reruns the batch (i3d.acquire.retry)
        retry=lambda wc: shlex.quote(retry_mark(f"results/{wc.dataset}/download/youtube/job{wc.job}.retry.json")),
    threads: 1
    resources:
        downloads=1,
        runtime=1440,
    shell:
        "i3d download kinetics-youtube --root {params.root} --job {wildcards.job} --jobs {params.jobs}"
        " --url-template {params.url} --pause-s {params.yt[pause_s]}"
        " --retry-base-s {params.yt[retry_base_s]} {params.cookies} {params.subset} --report {output.report}"
        " --retry-record {output.retry} --retry-mark {params.retry} > {log} 2>&1"


rule download_report:
    input:
        download_reports,
    output:
        "results/{dataset}/download_report.csv",
    log:
        "logs/{dataset}/download/report.log",
    threads: 1
    shell:
        "i3d download report --dataset {wildcards.dataset} --out {output} {input} > {log} 2>&1"


localrules:
    fetch_released,


rule fetch_released:
    """Download (resumable, i3d/acquire/download.py) a released weights file or the label map given by URL, checked
    against transfer.released.<stream>.sha256 where given. A local rule: cluster nodes often have no network."""
    output:
        f"{RELEASED_WEIGHTS}/{{file}}",
    log:
        "logs/fetch_released/{file}.log",
    wildcard_constraints:
        file="|".join(re.escape(k[len(RELEASED_WEIGHTS) + 1:]) for k in RELEASED_DOWNLOADS) or "(?!)",
    params:
        url=lambda wc: shlex.quote(RELEASED_DOWNLOADS[f"{RELEASED_WEIGHTS}/{wc.file}"]),
        sha256=lambda wc: (f" --sha256 {digest}" if (digest := expected_sha256(f"{RELEASED_WEIGHTS}/{wc.file}"))
                           else ""),
    threads: 1
    resources:
        downloads=1,
    shell:
        "i3d download file --url {params.url}{params.sha256} {output} > {log} 2>&1"
