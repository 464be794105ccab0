"""The processing engine. Never imports gradio: progress goes through plain callables."""
from engine.jobs.batch import process_batch
from engine.intelligent_enhancer import IntelligentEnhancer
from engine.models.manager import LoadedModel, ModelManager
from engine.jobs.image import EnhanceResult, enhance_image_direct
from engine.models.registry import MODELS
from engine.settings_manager import SettingsManager
from engine.jobs.video import enhance_video_direct

__all__ = ["MODELS", "EnhanceResult", "IntelligentEnhancer", "LoadedModel", "ModelManager", "SettingsManager",
           "enhance_image_direct", "enhance_video_direct", "process_batch"]
