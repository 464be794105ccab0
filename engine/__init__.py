"""The processing engine. Never imports gradio: progress goes through plain callables."""
from engine.batch import process_batch
from engine.intelligent_enhancer import IntelligentEnhancer
from engine.model_manager import LoadedModel, ModelManager
from engine.processor import EnhanceResult, enhance_image_direct
from engine.registry import MODELS
from engine.settings_manager import SettingsManager
from engine.video import enhance_video_direct

__all__ = ["MODELS", "EnhanceResult", "IntelligentEnhancer", "LoadedModel", "ModelManager", "SettingsManager",
           "enhance_image_direct", "enhance_video_direct", "process_batch"]
