"""studio_wire.outbox: messages kept on disk until delivered, in order, once each when the receiver is well, none lost
when it is not, a refused one set aside without stopping the rest."""

from __future__ import annotations

import asyncio

import pytest
from studio_wire.outbox import Backoff, Outbox, Refused


class Receiver:
    """Takes batches; ``down``: fails (to be tried again); ``poison``: refuses any batch holding such a message."""

    def __init__(self):
        self.got: list[dict] = []
        self.calls = 0
        self.down = False
        self.poison = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, batch: list[dict]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConnectionError("the receiver is down")
        if self.poison is not None and any(m.get("n") == self.poison for m in batch):
            raise Refused("HTTP 400: not one of ours")
        self.got.extend(batch)


def test_messages_survive_a_restart_and_arrive_in_order_once(tmp_path):
    path = tmp_path / "o.sqlite"
    first = Outbox(path, Receiver(), batch=2)
    for n in range(5):
        first.put({"n": n})
    first.close()  # the process stops before sending anything

    receiver = Receiver()
    again = Outbox(path, receiver, batch=2)
    assert again.pending() == 5

    async def drain():
        while await again.send_once():
            pass

    asyncio.run(drain())
    assert [m["n"] for m in receiver.got] == [0, 1, 2, 3, 4] and receiver.calls == 3
    assert again.stats()["pending"] == 0 and again.stats()["sent"] == 5


def test_a_failed_delivery_keeps_the_batch_and_the_next_try_delivers_it_once(tmp_path):
    receiver = Receiver()
    box = Outbox(tmp_path / "o.sqlite", receiver)
    box.put({"n": 1})
    receiver.down = True
    with pytest.raises(ConnectionError):
        asyncio.run(box.send_once())
    assert box.pending() == 1 and receiver.got == []
    receiver.down = False
    assert asyncio.run(box.send_once()) == 1
    assert receiver.got == [{"n": 1}] and box.pending() == 0


def test_a_newer_message_with_the_same_key_replaces_a_waiting_one_even_during_its_delivery(tmp_path):
    receiver = Receiver()
    box = Outbox(tmp_path / "o.sqlite", receiver)
    box.put({"n": 1, "grade": 3}, key="ps1/sam")
    box.put({"n": 2, "grade": 5}, key="ps1/sam")
    box.put({"n": 3}, key="ps1/ann")
    assert box.pending() == 2

    async def scenario():
        receiver.gate = asyncio.Event()
        sending = asyncio.ensure_future(box.send_once())
        await asyncio.sleep(0.05)
        box.put({"n": 4, "grade": 6}, key="ps1/sam")  # while the older one is on its way
        receiver.gate.set()
        await sending
        receiver.gate = None
        await box.send_once()

    asyncio.run(scenario())
    assert [m["n"] for m in receiver.got] == [2, 3, 4] and box.pending() == 0


def test_a_refused_message_is_set_aside_with_the_reason_and_the_rest_go_on(tmp_path):
    receiver = Receiver()
    receiver.poison = 2
    box = Outbox(tmp_path / "o.sqlite", receiver, batch=10)
    for n in range(4):
        box.put({"n": n})
    assert asyncio.run(box.send_once()) == 4
    assert [m["n"] for m in receiver.got] == [0, 1, 3] and box.pending() == 0
    (aside,) = box.refused()
    assert aside["message"] == {"n": 2} and aside["reason"] == "HTTP 400: not one of ours"
    assert box.stats()["refused"] == 1 and box.stats()["sent"] == 3


def test_beyond_max_kept_the_oldest_are_dropped_and_counted(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", Receiver(), max_kept=3)
    for n in range(5):
        box.put({"n": n})
    assert box.stats()["dropped"] == 2 and box.pending() == 3
    receiver = Receiver()
    box.deliver = receiver
    asyncio.run(box.send_once())
    assert [m["n"] for m in receiver.got] == [2, 3, 4]


def test_backoff_doubles_up_to_its_ceiling_with_jitter_and_resets():
    backoff = Backoff(first=1.0, most=8.0)
    waits = [backoff.failed() for _ in range(6)]
    for wait, ceiling in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= wait <= ceiling, waits
    backoff.reset()
    assert backoff.failed() <= 1.0


def test_the_sender_sends_when_woken_and_waits_out_its_backoff_while_the_receiver_is_down(tmp_path):
    receiver = Receiver()
    box = Outbox(tmp_path / "o.sqlite", receiver, first_wait=0.4, max_wait=0.4)

    async def scenario():
        task = asyncio.ensure_future(box.run(idle=60))
        await asyncio.sleep(0.05)
        box.put({"n": 1})
        await asyncio.sleep(0.1)
        assert receiver.got == [{"n": 1}], "a put wakes the sender at once"
        receiver.down = True
        box.put({"n": 2})
        await asyncio.sleep(0.05)
        calls = receiver.calls
        for n in range(3, 13):  # puts while it waits do not make it try again
            box.put({"n": n})
            await asyncio.sleep(0.01)
        assert receiver.calls == calls, "tried again before its backoff was over"
        receiver.down = False
        await asyncio.sleep(0.6)
        task.cancel()
        assert [m["n"] for m in receiver.got] == list(range(1, 13))
        assert box.stats()["failures"] == 0 and box.pending() == 0

    asyncio.run(scenario())


def test_a_timer_driven_sender_waits_out_its_backoff_after_a_failure(tmp_path):
    receiver = Receiver()
    box = Outbox(tmp_path / "o.sqlite", receiver, first_wait=0.3, max_wait=0.3)

    async def scenario():
        box.put({"n": 1})
        receiver.down = True
        await box.tick()
        calls = receiver.calls
        await box.tick()  # within the backoff: not tried
        assert receiver.calls == calls and box.stats()["failed_deliveries"] == 1
        receiver.down = False
        await asyncio.sleep(0.35)
        await box.tick()
        assert receiver.got == [{"n": 1}] and box.pending() == 0 and box.stats()["failures"] == 0

    asyncio.run(scenario())
