"""Give the model a Python function to call: ``@rt.tool`` declares it, the session runs it.

    python examples/tool_calling.py "What's the weather in Paris?"

The schema the model sees comes from the signature, the type hints and the
docstring. When the model calls the tool, the session runs the function in its
own task (cancelled if the turn is interrupted), sends the result back and the
model carries on speaking.
"""

from __future__ import annotations

from typing import Any, Literal

import trio
from _common import parser, provider_config, run

import trio_realtime as rt
from trio_realtime.testing.scenario import PlannedToolCall, Reply, ReplyContext, Scenario


@rt.tool
async def get_weather(
    city: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: City name, such as "Paris".
        unit: Temperature unit.
    """
    print(f"  [tool] looking up the weather in {city} ...")
    await trio.sleep(0.1)  # a real tool would call a weather service here
    temperature = 21 if unit == "celsius" else 70
    return {"city": city, "temperature": temperature, "unit": unit, "sky": "sunny"}


def fake_model(heard: str, context: ReplyContext) -> Reply:
    """How the fake server's "model" answers (used only without an API key).

    First it calls the tool; once the result is back it speaks about it.
    """
    if not context.tool_results:
        return Reply(tool_calls=[PlannedToolCall("get_weather", {"city": "Paris"})])
    weather = context.tool_results[0].output
    return Reply(
        text=f"It is {weather['temperature']} degrees and {weather['sky']} in {weather['city']}."
    )


async def main() -> None:
    p = parser("Let the model call a Python function.")
    p.add_argument("message", nargs="?", default="What's the weather like in Paris?")
    args = p.parse_args()

    async with provider_config(
        args.provider,
        fake=args.fake,
        scenario=Scenario(responder=fake_model),
        instructions="Use the get_weather tool to answer questions about the weather.",
        tools=[get_weather],  # @rt.tool functions run automatically when called
    ) as config:
        async with rt.connect(config) as session:
            print(f"you: {args.message}")
            await session.send_text(args.message)
            async for event in session.events():
                match event:
                    case rt.ToolCall(name=name, arguments=arguments):
                        # Informational: the session is already running the function.
                        print(f"model calls {name}({dict(arguments)})")
                    case rt.Transcript(role="assistant", text=text, final=True):
                        print(f"assistant: {text}")
                    case rt.TurnDone():
                        break  # the spoken answer after the tool result is complete


if __name__ == "__main__":
    run(main)
