"""Trio-native realtime speech-to-speech sessions with Gemini Live and OpenAI Realtime.

Public names load on first use, so that importing the package (for example
through the pytest plugin) costs almost nothing until a name is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._config import (
        ConnectionOptions as ConnectionOptions,
    )
    from ._config import (
        RetryPolicy as RetryPolicy,
    )
    from .audio import (
        AudioError as AudioError,
    )
    from .audio import (
        AudioFrame as AudioFrame,
    )
    from .audio import (
        Rechunker as Rechunker,
    )
    from .audio import (
        Resampler as Resampler,
    )
    from .audio import (
        read_wav as read_wav,
    )
    from .audio import (
        write_wav as write_wav,
    )
    from .errors import (
        AuthenticationError as AuthenticationError,
    )
    from .errors import (
        ConfigurationError as ConfigurationError,
    )
    from .errors import (
        ConfigurationRefused as ConfigurationRefused,
    )
    from .errors import (
        ConnectionLost as ConnectionLost,
    )
    from .errors import (
        HandshakeError as HandshakeError,
    )
    from .errors import (
        ProtocolError as ProtocolError,
    )
    from .errors import (
        RateLimitError as RateLimitError,
    )
    from .errors import (
        RealtimeError as RealtimeError,
    )
    from .errors import (
        ReconnectFailed as ReconnectFailed,
    )
    from .errors import (
        ServerError as ServerError,
    )
    from .errors import (
        SessionClosed as SessionClosed,
    )
    from .events import (
        AudioOut as AudioOut,
    )
    from .events import (
        Event as Event,
    )
    from .events import (
        GoingAway as GoingAway,
    )
    from .events import (
        InputCommitted as InputCommitted,
    )
    from .events import (
        Interrupted as Interrupted,
    )
    from .events import (
        InvalidToolCall as InvalidToolCall,
    )
    from .events import (
        McpApprovalRequested as McpApprovalRequested,
    )
    from .events import (
        McpCall as McpCall,
    )
    from .events import (
        McpToolsListed as McpToolsListed,
    )
    from .events import (
        Reconnected as Reconnected,
    )
    from .events import (
        ResponseDone as ResponseDone,
    )
    from .events import (
        ResponseStarted as ResponseStarted,
    )
    from .events import (
        ResumptionUpdate as ResumptionUpdate,
    )
    from .events import (
        ServerErrorEvent as ServerErrorEvent,
    )
    from .events import (
        SessionReady as SessionReady,
    )
    from .events import (
        SessionUpdated as SessionUpdated,
    )
    from .events import (
        SpeechStarted as SpeechStarted,
    )
    from .events import (
        SpeechStopped as SpeechStopped,
    )
    from .events import (
        TextOut as TextOut,
    )
    from .events import (
        ToolCall as ToolCall,
    )
    from .events import (
        ToolCallCancelled as ToolCallCancelled,
    )
    from .events import (
        ToolSpec as ToolSpec,
    )
    from .events import (
        Transcript as Transcript,
    )
    from .events import (
        TurnDone as TurnDone,
    )
    from .events import (
        TurnMetrics as TurnMetrics,
    )
    from .events import (
        Usage as Usage,
    )
    from .gemini import (
        GeminiLive as GeminiLive,
    )
    from .history import (
        ConversationHistory as ConversationHistory,
    )
    from .history import (
        HistoryItem as HistoryItem,
    )
    from .history import (
        ImageRef as ImageRef,
    )
    from .openai import (
        McpServer as McpServer,
    )
    from .openai import (
        OpenAIRealtime as OpenAIRealtime,
    )
    from .openai import (
        OpenAITranscription as OpenAITranscription,
    )
    from .session import (
        EventStream as EventStream,
    )
    from .session import (
        LatencyStats as LatencyStats,
    )
    from .session import (
        RealtimeSession as RealtimeSession,
    )
    from .session import (
        SessionStatistics as SessionStatistics,
    )
    from .session import (
        connect as connect,
    )
    from .tools import (
        FunctionTool as FunctionTool,
    )
    from .tools import (
        ToolArgumentError as ToolArgumentError,
    )
    from .tools import (
        ToolContext as ToolContext,
    )
    from .tools import (
        tool as tool,
    )

_LAZY: dict[str, str] = {
    "AudioError": ".audio",
    "AudioFrame": ".audio",
    "AudioOut": ".events",
    "AuthenticationError": ".errors",
    "ConfigurationError": ".errors",
    "ConfigurationRefused": ".errors",
    "ConnectionLost": ".errors",
    "ConnectionOptions": "._config",
    "ConversationHistory": ".history",
    "Event": ".events",
    "EventStream": ".session",
    "FunctionTool": ".tools",
    "GeminiLive": ".gemini",
    "GoingAway": ".events",
    "HandshakeError": ".errors",
    "HistoryItem": ".history",
    "ImageRef": ".history",
    "InputCommitted": ".events",
    "Interrupted": ".events",
    "InvalidToolCall": ".events",
    "OpenAIRealtime": ".openai",
    "OpenAITranscription": ".openai",
    "ProtocolError": ".errors",
    "RateLimitError": ".errors",
    "RealtimeError": ".errors",
    "RealtimeSession": ".session",
    "Rechunker": ".audio",
    "ReconnectFailed": ".errors",
    "Reconnected": ".events",
    "Resampler": ".audio",
    "ResponseDone": ".events",
    "ResponseStarted": ".events",
    "ResumptionUpdate": ".events",
    "RetryPolicy": "._config",
    "ServerError": ".errors",
    "ServerErrorEvent": ".events",
    "SessionClosed": ".errors",
    "SessionReady": ".events",
    "SessionStatistics": ".session",
    "LatencyStats": ".session",
    "SessionUpdated": ".events",
    "SpeechStarted": ".events",
    "SpeechStopped": ".events",
    "TextOut": ".events",
    "ToolArgumentError": ".tools",
    "ToolCall": ".events",
    "ToolCallCancelled": ".events",
    "McpApprovalRequested": ".events",
    "McpCall": ".events",
    "McpToolsListed": ".events",
    "McpServer": ".openai",
    "ToolContext": ".tools",
    "ToolSpec": ".events",
    "Transcript": ".events",
    "TurnDone": ".events",
    "TurnMetrics": ".events",
    "Usage": ".events",
    "connect": ".session",
    "read_wav": ".audio",
    "tool": ".tools",
    "write_wav": ".audio",
}

__all__ = [
    "AudioError",
    "AudioFrame",
    "AudioOut",
    "AuthenticationError",
    "ConfigurationError",
    "ConfigurationRefused",
    "ConnectionLost",
    "ConnectionOptions",
    "ConversationHistory",
    "Event",
    "EventStream",
    "FunctionTool",
    "GeminiLive",
    "GoingAway",
    "HandshakeError",
    "HistoryItem",
    "ImageRef",
    "InputCommitted",
    "Interrupted",
    "InvalidToolCall",
    "OpenAIRealtime",
    "OpenAITranscription",
    "ProtocolError",
    "RateLimitError",
    "RealtimeError",
    "RealtimeSession",
    "Rechunker",
    "ReconnectFailed",
    "Reconnected",
    "Resampler",
    "ResponseDone",
    "ResponseStarted",
    "ResumptionUpdate",
    "RetryPolicy",
    "ServerError",
    "ServerErrorEvent",
    "SessionClosed",
    "SessionReady",
    "SessionStatistics",
    "LatencyStats",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "TextOut",
    "ToolArgumentError",
    "ToolCall",
    "ToolCallCancelled",
    "McpApprovalRequested",
    "McpCall",
    "McpToolsListed",
    "McpServer",
    "ToolContext",
    "ToolSpec",
    "Transcript",
    "TurnDone",
    "TurnMetrics",
    "Usage",
    "__version__",
    "connect",
    "read_wav",
    "tool",
    "write_wav",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
