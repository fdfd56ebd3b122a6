"""OpenAI Realtime: wire messages, codec, sans-IO protocol machine and configuration."""

from .._config import McpServer as McpServer
from .config import OpenAIRealtime as OpenAIRealtime
from .config import OpenAITranscription as OpenAITranscription
from .protocol import OpenAIProtocol as OpenAIProtocol

__all__ = ["McpServer", "OpenAIProtocol", "OpenAIRealtime", "OpenAITranscription"]
