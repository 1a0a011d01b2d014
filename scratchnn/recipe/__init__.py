"""Recipes: training settings (``setting``, ``config``) and the recipe that turns them into a trained
network (``train``)."""
