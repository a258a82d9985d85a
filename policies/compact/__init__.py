"""The compact policy: a small CNN and a hashed-word text encoder feeding the shared LSTM head."""
