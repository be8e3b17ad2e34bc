"""What a test sends a training worker to look inside it. A worker imports the module of each function it is sent,
and the test modules import torch: this one imports nothing, so that a probe finds the worker as it was."""
import sys


def torch_threads(data):
    """None if the worker has not loaded torch, else the threads torch computes on."""
    if "torch" not in sys.modules:
        return None
    import torch
    return torch.get_num_threads()
