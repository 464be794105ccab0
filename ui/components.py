"""The Gradio interface: one tab per job; each tab module lays out its components and wires them."""
from __future__ import annotations

import gradio as gr

from ui.services import Services
from ui.tabs import batch, history, image, presets, system, train, video
from ui.widgets import ModelLists

CSS = """
#recommendation { padding: 0.5rem 0.75rem; }
#face-enhance.unavailable [data-testid="block-info"], #face-enhance.unavailable .info { opacity: 1; color: var(--body-text-color); }
#status { min-height: 2.5rem; }
@media (max-width: 640px) { #input-preview { display: none !important; } }
/* several images: a drop box beside the upload on a desktop; on a phone (no dragging) a small
   button under Enhance, so that Enhance stays near the top */
@media (max-width: 640px) { #image-files { display: none !important; } }
@media (min-width: 641px) { #image-files-button { display: none !important; } }
footer { display: none !important; }
"""


def build_interface(services: Services) -> gr.Blocks:
    defaults = services.remembered()  # and again on every page load (image.listen)
    model_lists = ModelLists()  # refreshed together by the System tab
    with gr.Blocks(title="Real-ESRGAN Ultimate", delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown("# Real-ESRGAN Ultimate\nSharper, larger images with Real-ESRGAN; faces restored with "
                    "GFPGAN. Everything runs on this machine.")
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # on a phone every tab stays in sight
            with gr.Tab("Image", id="image"):
                controls, upload = image.build(services, defaults, model_lists)
            if services.config.ENABLE_VIDEO_PROCESSING:
                with gr.Tab("Video", id="video"):
                    video.build(services, model_lists)
            if services.config.ENABLE_BATCH_PROCESSING:
                with gr.Tab("Batch", id="batch"):
                    batch.build(services, model_lists)
            with gr.Tab("Train", id="train"):
                train.build(services, [controls.by_field["model"]])
            with gr.Tab("Presets", id="presets"):
                presets.build(services, controls, tabs)
            with gr.Tab("History", id="history"):
                history.build(services, controls, tabs, upload)
            with gr.Tab("System", id="system"):
                system.build(services, model_lists)
    return demo
