"""Detection, georeferencing and evaluation of patrol imagery.

What the pipeline calls (heavy modules import torch/ultralytics, so import them where needed):
``vision.ingest.ingest_bytes`` (raises ``RejectedImage``), ``vision.registry.require_card`` /
``cards_for``, ``vision.ultralytics_adapter.load_detector``, ``vision.analyse.analyse_frame``
(= ``slicing.slice_infer`` + ``georef.findings_from_detections``), ``vision.georef.FrameGeoref`` /
``OrthoGeoref`` and ``vision.georef.evidence_crop``.
"""
