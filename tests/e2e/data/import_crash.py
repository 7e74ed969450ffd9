"""e2e helper: a model-serving worker that dies at import time, as in seed 001."""
print("loading model")
import torch_fake_podvisor_e2e  # noqa: F401,E402 (does not exist: ModuleNotFoundError)
