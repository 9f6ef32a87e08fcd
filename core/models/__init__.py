"""Reference models rebuilt from weights, one module per family (flow, text, codebook, posterior), the MLP
they share (mlp.py) and where models run (device.py).
"""
