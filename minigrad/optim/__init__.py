"""Optimisers (torch.optim's update rules) and learning-rate schedules."""
from . import lr_scheduler
from .algorithms import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from .optimizer import Optimizer
