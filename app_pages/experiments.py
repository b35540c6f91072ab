"""Experiments: recorded evaluations side by side with the thesis' reference runs, per class and over training."""

import pandas as pd
import plotly.express as px
import streamlit as st

from fashionseg.app import experiments_view as dashboard
from fashionseg.app.segment_view import escape_markdown
from fashionseg.evaluation.registry import list_records, registry_dir

PERCENT = st.column_config.NumberColumn(format="%.3f")


def score_column(name: str, label: str | None = None):
    """A 3-decimal column whose header explains the score on hover."""
    return st.column_config.NumberColumn(label or name, format="%.3f", help=dashboard.METRIC_HELP.get(name))


st.title("Experiments")

records = list_records()
ours = dashboard.our_runs(records)
reference = dashboard.reference_runs()
st.caption(
    f"{len(ours)} Mask R-CNN evaluation(s) recorded in {registry_dir()} (`fashionseg evaluate maskrcnn` adds one). "
    "Combined scores follow the thesis: Classification (eq. 15), Segmentation (17), Speed (18), TO (19), TTO (21). "
    "Hover over a column's name for its definition."
)

chosen_runs = st.multiselect(
    "Runs to compare",
    list(ours["run id"]),
    default=dashboard.default_runs(ours),
    key="experiment_runs",
    help="Each evaluation is its own run (name and time), so re-evaluating a model never merges two results. "
    "First shown: the newest evaluation of each model, the app's default model first.",
)
show_reference = st.toggle(
    "Show the thesis' Base1-Full4 as reference rows",
    value=True,
    help="The thesis' own numbers (Tables 8-10) on its iMaterialist test set and 460 client photos, "
    "on a 2017 laptop CPU: a reference, not a comparison on the same data.",
)
picked = ours[ours["run id"].isin(chosen_runs)].sort_values(
    "run id", key=lambda ids: ids.map(chosen_runs.index)
)  # as chosen
table = pd.concat([picked, reference]) if show_reference else picked
if table.empty:
    st.info("No evaluation chosen or recorded yet." if not ours.empty else "No evaluation recorded yet.")
    st.stop()
scores = ["EMR", "OA", "JSS", "mAP@50", "F1", "COCO AP", "Class_C", "Class_M", "Segmentation", "Speed", "TO", "TTO"]
# The scores people compare first, then the inputs they came from.
ORDER = [
    "run id",
    "source",
    "TTO",
    "TO",
    "Class_C",
    "Class_M",
    "Segmentation",
    "Speed",
    "seconds",
    "EMR",
    "OA",
    "JSS",
    "mAP@50",
    "F1",
    "COCO AP",
    "client EMR",
    "client OA",
    "client JSS",
    "TTO (printed)",
    "weights",
    "backbone",
    "input size",
    "data",
    "images",
    "evaluated",
]
st.dataframe(
    table,
    hide_index=True,
    column_order=[c for c in ORDER if c in table.columns],
    column_config={
        "run id": st.column_config.TextColumn("run", width="medium", help="Name and time of the evaluation."),
        "seconds": st.column_config.NumberColumn(
            "seconds / photo", format="%.3f", help=dashboard.METRIC_HELP["seconds"]
        ),
        **{name: score_column(name) for name in scores},
        **{f"client {name}": score_column(name, f"client {name}") for name in ("EMR", "OA", "JSS")},
        "TTO (printed)": st.column_config.NumberColumn(format="%.2f", help="The thesis' Table 10, as printed."),
    },
)
if show_reference:
    st.caption(
        "Reference rows are recomputed from the thesis' Tables 8-9 with the same formulas; TTO (printed) is its Table 10. "
        "They agree within rounding except Base2, whose printed TTO 1.75 does not follow from its own metrics (1.65)."
    )

left, right = st.columns(2)
hover = {"Class_C": ":.3f", "Class_M": ":.3f", "Segmentation": ":.3f", "Speed": ":.3f", "TTO": ":.2f"}
with left:
    bars = table.dropna(subset=["TTO"])
    tto = px.bar(
        bars,
        x="TTO",
        y="label",
        color="source",
        orientation="h",
        title="Total trade-off (TTO) per run",
        hover_name="run id",
        hover_data=hover,
        height=140 + 30 * len(bars),
    )
    tto.update_layout(
        yaxis_title=None, yaxis_autorange="reversed", margin=dict(t=40, b=0), legend=dict(orientation="h", y=-0.15)
    )
    st.plotly_chart(tto, key="tto")
    st.caption(dashboard.METRIC_HELP["TTO"])
with right:
    quality = st.radio(
        "Quality",
        ["Segmentation", "Class_M", "mAP@50", "TO"],
        horizontal=True,
        help="\n\n".join(f"**{q}**: {dashboard.METRIC_HELP[q]}" for q in ("Segmentation", "Class_M", "mAP@50", "TO")),
    )
    scatter = px.scatter(
        table,
        x="seconds",
        y=quality,
        color="source",
        title=f"{quality} against time per photo",
        hover_name="run id",
        hover_data={"backbone": True, "input size": True, "data": True, "seconds": ":.3f"},
    )
    scatter.update_traces(marker_size=11)
    scatter.add_vline(x=2.0, line_dash="dot", annotation_text="thesis budget 2 s")
    scatter.update_layout(
        xaxis=dashboard.log_seconds_axis(0.02, 5),
        xaxis_title="time per photo (log scale)",
        margin=dict(t=40, b=0),
        legend=dict(orientation="h", y=-0.35),
    )
    st.plotly_chart(scatter, key="quality")

mask_records = [r for r in records if r.get("kind") == "maskrcnn" and r.get("per_class")]
if mask_records:
    st.subheader("One run, per class", anchor=False)
    labels = dashboard.run_ids(mask_records)
    chosen = st.selectbox(
        "Run",
        range(len(mask_records)),
        index=dashboard.default_record(mask_records),
        format_func=labels.__getitem__,
        help="First shown: the newest evaluation of the app's default model.",
    )
    record = mask_records[chosen]
    per_image = dashboard.per_image_results(record)
    classes = dashboard.per_class_scores(record, per_image)
    if per_image is None:
        st.caption(
            "Instance-level scores need the evaluation's per-photo results "
            f"({escape_markdown(str(record.get('data', {}).get('metrics_file')))}), which are not here."
        )
    level = st.radio(
        "Level",
        ["image", "instance"],
        horizontal=True,
        key="per_class_level",
        help="Image level: does the photo hold the class. Instance level: does each instance match one "
        "of its class at mask IoU >= 0.5.",
    )
    compare = st.toggle("Accuracy beside the thesis' final model (Appendix E, iMaterialist test set)", value=False)
    bars = classes.melt(
        id_vars="class",
        value_vars=["accuracy", f"{level} precision", f"{level} recall", f"{level} F1"],
        var_name="score",
        value_name="value",
    )
    if compare:
        thesis = dashboard.reference_per_class("test").assign(score="thesis Full4 accuracy (reference)")
        bars = pd.concat([bars, thesis.rename(columns={"accuracy": "value"})[["class", "score", "value"]]])
    chart = px.bar(
        bars,
        x="class",
        y="value",
        color="score",
        barmode="group",
        title=f"Per class: accuracy (counts true negatives) beside {level}-level precision, recall and F1",
    )
    chart.update_layout(
        yaxis_range=[0, 1],
        xaxis_title=None,
        yaxis_title=None,
        margin=dict(t=40, b=0),
        legend=dict(orientation="h", y=-0.3),
    )
    st.plotly_chart(chart, key="per_class")
    st.caption(
        "Accuracy counts the photos that rightly lack a class, so a class the model never predicts scores high when "
        "it is rare (umbrella: none in CCP, accuracy 1.00). Precision and recall do not."
    )
    st.dataframe(
        classes,
        hide_index=True,
        column_config={c: score_column(c) for c in classes.columns if c in dashboard.METRIC_HELP and c != "seconds"},
    )

    try:
        losses = dashboard.loss_curves(record)
    except FileNotFoundError as exc:
        st.warning(escape_markdown(str(exc)))
        losses = pd.DataFrame()
    if losses.empty:
        st.caption("This run has no training log.")
    else:
        components = st.multiselect(
            "Loss components",
            sorted(losses["component"].unique(), key=lambda c: (c != "loss", c)),
            default=["loss", "mrcnn_class_loss", "mrcnn_mask_loss"],
        )
        shown = losses[losses["component"].isin(components)]
        curves = px.line(
            shown,
            x="epoch",
            y="value",
            color="component",
            line_dash="split",
            markers=True,
            title="Train and validation loss per component",
            hover_data=["stage"],
        )
        stage_change = losses.loc[losses["stage"] != losses["stage"].iloc[0], "epoch"]
        if not stage_change.empty:
            curves.add_vline(x=stage_change.min() - 0.5, line_dash="dot", annotation_text="all layers from here")
        curves.update_layout(margin=dict(t=40, b=0))
        st.plotly_chart(curves, key="losses")

unet = dashboard.unet_runs(records)
if not unet.empty:
    st.subheader("Garment cutout (U-Net)", anchor=False)
    st.dataframe(
        unet,
        hide_index=True,
        column_config={c: PERCENT for c in ("Dice mean", "Dice median", "Dice mean (outliers removed)")},
    )

st.subheader("Robustness: re-framed, re-lit and re-compressed photos", anchor=False)
st.caption(
    "Each model on variants of the same test photos: waist-up and lower-body crops, the person at 0.3-0.8 of a "
    "16:9 or square frame, three people side by side, low light, heavy JPEG, a 10-degree tilt "
    '(`fashionseg robustness maskrcnn|unet` adds a run; README "Robustness").'
)
kind = st.radio(
    "Model",
    ["maskrcnn", "unet"],
    horizontal=True,
    key="robustness_kind",
    format_func={"maskrcnn": "Mask R-CNN", "unet": "U-Net"}.get,
)
robust = dashboard.robustness_runs(records, kind)
if robust.empty:
    st.info("No robustness run of this kind recorded yet.")
else:
    runs = list(dict.fromkeys(robust["run"]))
    chosen_runs = st.multiselect(
        "Runs to compare",
        runs,
        default=dashboard.default_robustness_runs(robust),
        key="robustness_runs",
        help="Runs made with non-default options (--focus, --min-confidence: ablations) are not chosen by default.",
    )
    metric_names = [m for m in dashboard.ROBUSTNESS_METRICS[kind].values() if m != "seconds"]
    metric = st.radio("Metric", metric_names, horizontal=True, key="robustness_metric")
    shown = robust[robust["run"].isin(chosen_runs)]
    order = dashboard.variant_order(robust["variant"])
    bars = px.bar(
        shown,
        x="variant",
        y=metric,
        color="run",
        barmode="group",
        category_orders={"variant": order},
        hover_data=["photos", "seconds"],
        title=f"{metric} per variant",
    )
    bars.update_layout(
        yaxis_range=[0, 1], xaxis_title=None, legend=dict(orientation="h", y=-0.3), margin=dict(t=40, b=0)
    )
    st.plotly_chart(bars, key="robustness_chart")
    table = shown.pivot_table(index="variant", columns="run", values=metric, sort=False)
    st.dataframe(
        table.reindex([v for v in order if v in table.index]), column_config={c: PERCENT for c in table.columns}
    )
