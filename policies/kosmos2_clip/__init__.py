"""The Kosmos-2 + CLIP hybrid policy: the Kosmos-2 frame feature fused with CLIP image and text features."""
