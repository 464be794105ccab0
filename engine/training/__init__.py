"""Fine-tuning a small pretrained model on the user's own images (see trainer.train_model)."""
from engine.training.trainer import StepReport, TrainingRequest, TrainingResult, train_model

__all__ = ["StepReport", "TrainingRequest", "TrainingResult", "train_model"]
