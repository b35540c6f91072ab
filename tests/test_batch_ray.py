"""Batch work on a local Ray cluster (fashionseg.evaluation.ray_batch): the same results as the one-process path,
resumable, progress shown, one writer in batches. One cluster of 2 CPUs for the module; 5 photos."""

import json
import os
import shutil

import pytest

from fashionseg import settings
from fashionseg.annotation.preannotation import preannotate
from fashionseg.core.coco import read_coco
from fashionseg.models.maskrcnn.evaluate import evaluate_maskrcnn, select_first
from fashionseg.models.maskrcnn.predictor import InstanceSegmenter
from fashionseg.store import AnnotationStore, export_coco, import_coco

pytestmark = pytest.mark.slow  # a Ray cluster and trained models

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    from fashionseg.evaluation.ray_batch import start_ray

    start_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def weights():
    folder = settings.default_weights("maskrcnn")
    if folder is None or not (folder / "model.onnx").is_file():
        pytest.fail(f"the trained Mask R-CNN with its ONNX export is part of the repository: {folder}")
    return folder


def first_photos(doc, count):
    """``select_first`` keeping the image-level labels of the photos kept."""
    out = select_first(doc, count)
    ids = {im["id"] for im in out["images"]}
    return {**out, "image_labels": [x for x in doc.get("image_labels", []) if x["image_id"] in ids]}


@pytest.fixture()
def client_doc(ccp_root, ccp_subset):
    """Five CCP photos with image-level labels only (nothing to skip: every one gets pre-annotated)."""
    return first_photos(read_coco(ccp_subset / "client.json"), 5)


def _annotations(store, name):
    return [{k: v for k, v in a.items() if k != "created_at"} for a in export_coco(store, name)["annotations"]]


def test_preannotate_on_ray_matches_one_process_and_resumes(cluster, weights, client_doc, ccp_root, new_store):
    from fashionseg.evaluation.ray_batch import preannotate_ray

    one, many = AnnotationStore(new_store()), AnnotationStore(new_store())
    for store in (one, many):
        import_coco(store, client_doc, ccp_root / "photos", "c")
    expected = preannotate(one, "c", InstanceSegmenter.load(weights, "onnx"), model_name=weights.name)
    assert expected.annotated == 5 and expected.instances > 0

    seen = []
    first = preannotate_ray(
        many,
        "c",
        weights,
        model_name=weights.name,
        limit=2,
        write_batch=1,
        on_progress=lambda done, total, _: seen.append((done, total)),
    )
    assert (first.annotated, first.skipped) == (2, 0) and seen[-1] == (2, 2) and len(seen) == 3
    rest = preannotate_ray(many, "c", weights, model_name=weights.name, write_batch=2)  # a rerun after a stop
    assert (rest.annotated, rest.skipped, rest.instances) == (3, 2, expected.instances - first.instances)
    assert _annotations(many, "c") == _annotations(one, "c")
    assert [h["author"] for h in many.history("c")][1:] == ["model:" + weights.name] * 5  # one change per image
    assert preannotate_ray(many, "c", weights, model_name=weights.name).annotated == 0


def test_preannotate_on_ray_reports_unreadable_photos(cluster, weights, client_doc, ccp_root, tmp_path):
    from fashionseg.evaluation.ray_batch import preannotate_ray

    photos = tmp_path / "photos"
    photos.mkdir()
    for im in client_doc["images"][:3]:
        shutil.copy(ccp_root / "photos" / im["file_name"], photos / im["file_name"])
    store = AnnotationStore(tmp_path / "s.db")
    import_coco(store, first_photos(client_doc, 3), photos, "c")
    broken = client_doc["images"][1]["file_name"]
    (photos / broken).write_bytes(b"not a photo any more")
    report = preannotate_ray(store, "c", weights, model_name=weights.name)
    assert report.annotated == 2 and len(report.failed) == 1 and report.failed[0].startswith(broken)
    assert [bool(store.annotations(im.id)) for im in store.images("c")] == [True, False, True]


def test_evaluate_on_ray_matches_one_process(cluster, weights, ccp_root, ccp_subset):
    from fashionseg.evaluation.ray_batch import ray_predictions

    test = select_first(read_coco(ccp_subset / "instances.json"), 4)
    client = first_photos(read_coco(ccp_subset / "client.json"), 3)
    segmenter = InstanceSegmenter.load(weights, "onnx")
    timed = ("inference_seconds", "inference_seconds_median", "seconds", "speed_score", "to", "tto")

    def untimed(value):
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in timed}
        if isinstance(value, list):
            return [untimed(v) for v in value]
        return value

    here, here_detections = evaluate_maskrcnn(segmenter, test, ccp_root / "photos", client, progress=False)
    there, there_detections = evaluate_maskrcnn(
        segmenter,
        test,
        ccp_root / "photos",
        client,
        progress=False,
        predict_many=ray_predictions(weights, batch_size=2),
    )
    assert here["test"]["images"] == 4 and len(here_detections) > 0
    assert untimed(there) == untimed(here)
    assert there_detections == here_detections
    assert there["test"]["inference_seconds"] > 0


def test_unet_evaluation_on_ray_matches_one_process(cluster, ccp_root, ccp_subset):
    from fashionseg.evaluation.ray_batch import ray_garment_predictions
    from fashionseg.models.unet.data import examples_from_coco
    from fashionseg.models.unet.evaluate import evaluate_unet
    from fashionseg.models.unet.predictor import GarmentSegmenter

    folder = settings.default_weights("unet")
    examples = examples_from_coco(ccp_subset / "garment.json", ccp_root / "photos")[:4]
    segmenter = GarmentSegmenter.load(folder, "onnx")
    here = evaluate_unet(segmenter, examples, progress=False)
    there = evaluate_unet(
        segmenter, examples, progress=False, predict_many=ray_garment_predictions(folder, batch_size=2)
    )
    assert [p["file"] for p in there["per_image"]] == [ex.image_path.name for ex in examples]
    assert there["per_image"] == here["per_image"] and there["dice_mean"] == here["dice_mean"]
    assert there["inference_seconds"] > 0


def test_cli_runs_a_unet_robustness_run_on_ray(run_cli, ccp_root, ccp_subset, tmp_path):
    env = {**os.environ, "FASHIONSEG_EXPERIMENTS": str(tmp_path / "registry")}
    done = run_cli(
        "robustness",
        "unet",
        "--test",
        str(ccp_subset / "garment.json"),
        "--images",
        str(ccp_root / "photos"),
        "--limit",
        "2",
        "--variants",
        "original",
        "waist_up",
        "--out",
        str(tmp_path / "r.json"),
        "--ray",
        "--ray-cpus",
        "1",
        "--quiet",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["images"] == 2 and list(result["variants"]) == ["original", "waist_up"]
    assert all(0.5 < v["dice_mean"] <= 1 for v in result["variants"].values()), result["variants"]


def test_cli_says_an_unreachable_ray_address_at_once(run_cli, tmp_path, synthetic_store):
    path, name = synthetic_store
    done = run_cli("store", "preannotate", name, "--db", str(path), "--ray-address", "127.0.0.1:1", "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: cannot reach the Ray cluster at 127.0.0.1:1" in done.stderr
