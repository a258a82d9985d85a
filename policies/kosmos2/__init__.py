"""The Kosmos-2 policy: RoboVLMs' policy head on transformers' Kosmos-2 (config, backbone, prompt, model)."""
