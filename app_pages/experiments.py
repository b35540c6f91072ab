"""Experiments: recorded evaluations side by side with the thesis' reference runs, per class and over training."""

import pandas as pd
import plotly.express as px
import streamlit as st

from fashionseg import dashboard
from fashionseg.experiments import list_records, registry_dir

PERCENT = st.column_config.NumberColumn(format="%.3f")
st.title("Experiments")

records = list_records()
ours = dashboard.our_runs(records)
reference = dashboard.reference_runs()
st.caption(f"{len(ours)} Mask R-CNN evaluation(s) recorded in {registry_dir()} (`fashionseg evaluate maskrcnn` adds one). "
           "Combined scores follow the thesis: Classification (eq. 15), Segmentation (17), Speed (18), TO (19), TTO (21).")

show_reference = st.toggle("Show the thesis' Base1-Full4 as reference rows", value=True,
                           help="The thesis' own numbers (Tables 8-10) on its iMaterialist test set and 460 client photos, "
                                "on a 2017 laptop CPU: a reference, not a comparison on the same data.")
table = pd.concat([ours, reference]) if show_reference else ours
if table.empty:
    st.info("No evaluation recorded yet.")
    st.stop()
scores = ["EMR", "OA", "JSS", "mAP@50", "F1", "COCO AP", "client EMR", "client OA", "client JSS",
          "Class_C", "Class_M", "Segmentation", "Speed", "TO", "TTO", "TTO (printed)"]
st.dataframe(
    table.drop(columns=["record"]), hide_index=True,
    column_config={"run": st.column_config.TextColumn(width="medium"),
                   "seconds": st.column_config.NumberColumn("seconds / photo", format="%.3f"),
                   **{name: PERCENT for name in scores}},
)
if show_reference:
    st.caption("Reference rows are recomputed from the thesis' Tables 8-9 with the same formulas; TTO (printed) is its Table 10. "
               "They agree within rounding except Base2, whose printed TTO 1.75 does not follow from its own metrics (1.65).")

charts = table.assign(label=table["run"].str.split(" (", regex=False).str[0])
left, right = st.columns(2)
with left:
    tto = px.bar(charts.dropna(subset=["TTO"]), x="label", y="TTO", color="source", title="Total trade-off (TTO) per run",
                 hover_data=["Class_C", "Class_M", "Segmentation", "Speed"])
    tto.update_layout(xaxis_title=None, margin=dict(t=40, b=0))
    st.plotly_chart(tto, key="tto")
with right:
    quality = st.radio("Quality", ["Segmentation", "Class_M", "mAP@50", "TO"], horizontal=True)
    scatter = px.scatter(charts, x="seconds", y=quality, color="source", log_x=True, range_x=[0.02, 5],
                         title=f"{quality} against time per photo", hover_name="run", hover_data=["backbone", "input size", "data"])
    scatter.update_traces(marker_size=11)
    scatter.add_vline(x=2.0, line_dash="dot", annotation_text="thesis budget 2 s")
    scatter.update_layout(xaxis_title="seconds per photo (log scale)", margin=dict(t=40, b=0))
    st.plotly_chart(scatter, key="quality")

mask_records = [r for r in records if r.get("kind") == "maskrcnn" and r.get("per_class")]
if mask_records:
    st.subheader("One run", anchor=False)
    chosen = st.selectbox("Run", range(len(mask_records)), index=len(mask_records) - 1,
                          format_func=lambda k: f"{mask_records[k]['run']} · {mask_records[k].get('evaluated_at', '')}")
    record = mask_records[chosen]
    classes = dashboard.per_class(record)
    compare = st.toggle("Beside the thesis' final model (Appendix E, iMaterialist test set)", value=False)
    bars = classes.assign(model="ours")
    if compare:
        bars = pd.concat([bars, dashboard.reference_per_class("test").assign(model="thesis Full4 (reference)")])
    accuracy = px.bar(bars, x="class", y="accuracy", color="model", barmode="group", hover_data=["true", "predicted"],
                      title="Per-class accuracy (image level) with true and predicted counts")
    accuracy.update_layout(yaxis_range=[0, 1], xaxis_title=None, margin=dict(t=40, b=0))
    st.plotly_chart(accuracy, key="per_class")
    counts = classes.melt(id_vars="class", value_vars=["true", "predicted"], var_name="images", value_name="count")
    occurrences = px.bar(counts, x="class", y="count", color="images", barmode="group", title="True and predicted images per class")
    occurrences.update_layout(xaxis_title=None, margin=dict(t=40, b=0))
    st.plotly_chart(occurrences, key="occurrences")
    st.dataframe(classes, hide_index=True, column_config={c: PERCENT for c in ("accuracy", "client accuracy", "COCO AP50")})

    try:
        losses = dashboard.loss_curves(record)
    except FileNotFoundError as exc:
        st.warning(str(exc))
        losses = pd.DataFrame()
    if losses.empty:
        st.caption("This run has no training log.")
    else:
        components = st.multiselect("Loss components", sorted(losses["component"].unique(), key=lambda c: (c != "loss", c)),
                                    default=["loss", "mrcnn_class_loss", "mrcnn_mask_loss"])
        shown = losses[losses["component"].isin(components)]
        curves = px.line(shown, x="epoch", y="value", color="component", line_dash="split", markers=True,
                         title="Train and validation loss per component", hover_data=["stage"])
        stage_change = losses.loc[losses["stage"] != losses["stage"].iloc[0], "epoch"]
        if not stage_change.empty:
            curves.add_vline(x=stage_change.min() - 0.5, line_dash="dot", annotation_text="all layers from here")
        curves.update_layout(margin=dict(t=40, b=0))
        st.plotly_chart(curves, key="losses")

unet = dashboard.unet_runs(records)
if not unet.empty:
    st.subheader("Garment cutout (U-Net)", anchor=False)
    st.dataframe(unet, hide_index=True, column_config={c: PERCENT for c in ("Dice mean", "Dice median", "Dice mean (outliers removed)")})

st.subheader("Robustness: re-framed, re-lit and re-compressed photos", anchor=False)
st.caption("Each model on variants of the same test photos: waist-up and lower-body crops, the person at 0.3-0.8 of a "
           "16:9 or square frame, three people side by side, low light, heavy JPEG, a 10-degree tilt "
           "(`fashionseg robustness maskrcnn|unet` adds a run; README \"Robustness\").")
kind = st.radio("Model", ["maskrcnn", "unet"], horizontal=True, key="robustness_kind",
                format_func={"maskrcnn": "Mask R-CNN", "unet": "U-Net"}.get)
robust = dashboard.robustness_runs(records, kind)
if robust.empty:
    st.info("No robustness run of this kind recorded yet.")
else:
    runs = list(dict.fromkeys(robust["run"]))
    chosen_runs = st.multiselect("Runs to compare", runs, default=dashboard.default_robustness_runs(robust), key="robustness_runs",
                                 help="Runs made with non-default options (--focus, --min-confidence: ablations) are "
                                      "not chosen by default.")
    metric_names = [m for m in dashboard.ROBUSTNESS_METRICS[kind].values() if m != "seconds"]
    metric = st.radio("Metric", metric_names, horizontal=True, key="robustness_metric")
    shown = robust[robust["run"].isin(chosen_runs)]
    order = dashboard.variant_order(robust["variant"])
    bars = px.bar(shown, x="variant", y=metric, color="run", barmode="group", category_orders={"variant": order},
                  hover_data=["photos", "seconds"], title=f"{metric} per variant")
    bars.update_layout(yaxis_range=[0, 1], xaxis_title=None, legend=dict(orientation="h", y=-0.3), margin=dict(t=40, b=0))
    st.plotly_chart(bars, key="robustness_chart")
    table = shown.pivot_table(index="variant", columns="run", values=metric, sort=False)
    st.dataframe(table.reindex([v for v in order if v in table.index]), column_config={c: PERCENT for c in table.columns})
