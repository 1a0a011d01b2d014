"""The playground in the browser: watch scratchnn's own code learn, draw a digit, take the model with you.

``scratchnn playground`` serves it (``scratchnn.playground.server``, which needs
the ``playground`` extra: Starlette and uvicorn). The data sets
(``scratchnn.playground.datasets``), the controls (``settings``), the training
session (``session``) and the digit preprocessing (``digits``) need only NumPy,
so a downloaded script can import them without the web server.
"""
