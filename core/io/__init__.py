"""Untrusted files: checkpoint format sniffing (sniff), restricted unpickling and listing (unpickle),
state-dict discovery (state_dict), config discovery (configs), safetensors and Hugging Face folders (hf),
the loaded checkpoint (checkpoints), probe data (probe), training logs (logs), allowed roots and paths
(paths), size limits (limits) and the errors a user reads (errors).
"""
