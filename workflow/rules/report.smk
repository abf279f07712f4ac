# report: one static page over a finished run (snakemake --cores all results/report.html): every table, training
# and validation curves, confusion matrices, example frames with their TV-L1 flow, and where the time went.


def report_inputs(wc):
    """All five tables when the transfer half is configured (a target dataset, and Kinetics or released weights to
    transfer from), else Table 2; plus the first frame and flow shard of each dataset, for the example strip."""
    transfer = TRANSFER_DATASETS and ("kinetics400" in config["datasets"] or RELEASED)
    tables = "results/tables.md" if transfer else "results/table2.md"
    shards = [f"results/{ds}/{kind}/{shard_names(ds)[0]}.h5" for ds in config["datasets"] for kind in ("rgb", "flow")
              if kind == "rgb" or "flow" in config["models"]["streams"]]
    return [tables, *shards]


rule report:
    input:
        report_inputs,
    output:
        html="results/report.html",
        images=directory("results/report"),
    log:
        "logs/report.log",
    params:
        bound=config["flow"]["bound"],
        code=stage_fingerprint("_run_report"),
    threads: 1
    shell:
        "i3d report --results results --out {output.html} --flow-bound {params.bound} > {log} 2>&1"
