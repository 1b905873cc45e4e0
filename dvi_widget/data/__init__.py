"""Data: data sets, the run folder (recording a training run), cutting a model into f and g."""
