# acquire: render a stand-in dataset (or read a real one, placed on disk or downloaded) and write its manifest.


def downloaded(wc):
    """Input function: a downloaded dataset's report (rules/download.smk), so acquire waits for the downloads."""
    if config["datasets"][wc.dataset]["source"] == "download":
        return [f"results/{wc.dataset}/download_report.csv"]
    return []


rule acquire:
    input:
        downloaded,
    output:
        "results/{dataset}/manifest.csv",
    log:
        "logs/{dataset}/acquire.log",
    benchmark:
        "results/benchmarks/{dataset}/acquire.tsv"
    params:
        cfg=acquire_cfg,
        subset=lambda wc: subset_args(wc.dataset) if data_kind(wc.dataset) == "real" else "",
        report=lambda wc: "".join(f"--download-report {path}" for path in downloaded(wc)),
        code=stage_fingerprint("_acquire"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "i3d data acquire --dataset {wildcards.dataset} --source {params.cfg[source]} --root {params.cfg[root]}"
        " --manifest {output} --classes {params.cfg[standin][classes]}"
        " --clips-per-class {params.cfg[standin][clips_per_class]} --seed {params.cfg[standin][seed]}"
        " --render-short-side {params.cfg[standin][short_side][0]} {params.cfg[standin][short_side][1]}"
        " --seconds {params.cfg[standin][seconds][0]} {params.cfg[standin][seconds][1]}"
        " {params.subset} {params.report} --quiet > {log} 2>&1"
