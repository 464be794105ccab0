"""The seed's processing entry points, by their seed names: one image (`engine/jobs/image.py`) and
one video (`engine/jobs/video.py`)."""
from engine.jobs.image import EnhanceResult, enhance_image_direct
from engine.jobs.video import enhance_video_direct

__all__ = ["EnhanceResult", "enhance_image_direct", "enhance_video_direct"]
