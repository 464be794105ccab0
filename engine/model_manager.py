"""The seed's model manager, by its seed name: the code lives in `engine/models/manager.py`."""
from engine.models.manager import LoadedModel, ModelManager, ModelStatus

__all__ = ["LoadedModel", "ModelManager", "ModelStatus"]
