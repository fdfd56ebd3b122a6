"""OpenAI Realtime: wire messages, codec, sans-IO protocol machine and configuration."""
