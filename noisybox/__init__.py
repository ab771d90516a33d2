"""noisybox: measure how noisy box annotations hurt detectors, and which α-IoU loss helps.

Subpackages are imported on demand so that light commands (annotation noise, reports)
never pay for importing torch.
"""

__version__ = "0.2.0"
