"""Traffic control: who sees the candidate. One protocol, one module per engine.

``advice.py`` (always present) only records the split the bot wants; engines such as flagd or a
webhook implement the same one-method protocol and are picked by ``factory.make_traffic``.
"""

from bot.traffic.protocol import Split, TrafficController, TrafficError

__all__ = ["Split", "TrafficController", "TrafficError"]
