"""Fan-out of daemon events to subscribers, with a bounded queue per subscriber.

Publishing never waits: a subscriber whose queue is full loses the message and is told how many it lost, per topic,
with a `Skipped` message once it catches up (it should reload from the store). So a slow or stuck console costs
the daemon one bounded queue, never its pace.
"""

from __future__ import annotations

import trio

from pbx.protocol import TOPIC_OF, Message, Skipped

QUEUE = 20_000  # messages per subscriber: several micro-batches (pbx.daemon.BATCH_MAX) of calls


class Subscriber:
    def __init__(self, name: str, size: int = QUEUE) -> None:
        self.name = name
        self.topics: set[str] = set()
        self.send, self.receive = trio.open_memory_channel[Message](size)
        self.skipped: dict[str, int] = {}
        self.delivered = 0

    def offer(self, message: Message, topic: str) -> None:
        try:
            self.send.send_nowait(message)
        except trio.WouldBlock:
            self.skipped[topic] = self.skipped.get(topic, 0) + 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def next_batch(self, limit: int = 512) -> list[Message]:
        """The next messages to write (waits for at least one), followed by Skipped notices when some were lost."""
        batch = [await self.receive.receive()]
        while len(batch) < limit:
            try:
                batch.append(self.receive.receive_nowait())
            except trio.WouldBlock:
                break
        if self.skipped:
            batch += [Skipped(topic=t, count=n) for t, n in self.skipped.items()]
            self.skipped = {}
        return batch


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.published = 0

    def add(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)

    def remove(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        sub.send.close()

    def publish(self, message: Message) -> None:
        topic = TOPIC_OF.get(type(message), "")
        self.published += 1
        for sub in self.subscribers:
            if topic in sub.topics:
                sub.offer(message, topic)
