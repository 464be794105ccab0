"""Jobs: one image, one video, a batch, a cluster run, comparisons, history, naming, resume, control."""
