"""The processing engine. Never imports gradio: progress goes through plain callables."""
from engine.model_manager import LoadedModel, ModelManager
from engine.processor import EnhanceResult, enhance_image_direct
from engine.registry import MODELS

__all__ = ["MODELS", "EnhanceResult", "LoadedModel", "ModelManager", "enhance_image_direct"]
