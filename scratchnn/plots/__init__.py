"""Plots, written as PNG files with matplotlib's Agg renderer (``figure``: one figure and save helper).

* ``training``: learning curves per epoch, and the tuning heatmap of a grid search;
* ``classification``: the confusion matrix, and the images a classifier got wrong;
* ``images``: what a network sees, the first layer's weights, a CNN's filters and feature maps;
* ``regression``: predicted against actual values, and the residuals.
"""

from .classification import confusion_matrix, misclassified_grid
from .images import conv_filters, feature_maps, first_layer_weights, image_stages
from .regression import predicted_vs_actual, residuals
from .training import learning_curves, tuning_heatmap

__all__ = [
    "confusion_matrix",
    "conv_filters",
    "feature_maps",
    "first_layer_weights",
    "image_stages",
    "learning_curves",
    "misclassified_grid",
    "predicted_vs_actual",
    "residuals",
    "tuning_heatmap",
]
