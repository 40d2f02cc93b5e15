"""A local Slack Web API and Socket Mode stand-in for the end-to-end tests and ``releasegate demo``.

Usage::

    standin = SlackStandIn()
    base_url = await standin.start()          # "http://127.0.0.1:PORT/api/" -> SLACK_API_URL
    ...
    await standin.wait_for_message("#releases", contains="Preview started")
    standin.assert_no_rejections()
    await standin.stop()
"""

from bot.demo.standin.blockkit import message_text, validate_blocks, validate_view
from bot.demo.standin.errors import SlackError
from bot.demo.standin.faults import Fault, FaultKind
from bot.demo.standin.server import SlackStandIn
from bot.demo.standin.socket_mode import Ack
from bot.demo.standin.state import (
    CallRecord,
    Channel,
    Edit,
    Ephemeral,
    FileRecord,
    Message,
    SlackState,
    ViewRecord,
)

__all__ = [
    "Ack",
    "CallRecord",
    "Channel",
    "Edit",
    "Ephemeral",
    "Fault",
    "FaultKind",
    "FileRecord",
    "Message",
    "SlackError",
    "SlackStandIn",
    "SlackState",
    "ViewRecord",
    "message_text",
    "validate_blocks",
    "validate_view",
]
