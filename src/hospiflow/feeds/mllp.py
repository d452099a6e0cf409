"""The MLLP listener: HL7 v2 messages over TCP, each acknowledged after its commit.

MLLP (HL7 v2.5 appendix C, "Minimal Lower Layer Protocol" release 2) frames
a message as ``<VT> message <FS><CR>`` (``0x0b`` ... ``0x1c 0x0d``). The
``hl7`` package's ``hl7.mllp`` streams do that framing, but give no per-frame
size or time bound, which a listener facing a hospital network needs; this
module frames with plain ``asyncio`` streams so that it can bound both:

* at most ``max_connections`` clients at once (more are closed on accept);
* a frame over ``max_message_bytes`` is answered AR and its connection
  closed (the rest of it cannot be told from the next message);
* a frame must be complete ``message_seconds`` after its start byte, and a
  connection that sends nothing for ``idle_seconds`` is closed (a slow-loris
  sender holds a slot for at most that long);
* bytes before a start byte are skipped, up to ``max_message_bytes``.

Every decision that drops or refuses something is logged with the peer and
the reason, never with message content.

**ACK after commit.** Frames are parsed in the event loop and queued to one
writer, which applies everything queued (several connections' messages) in
one transaction (``SiteFeed.apply_messages``: a group commit, in the loop's
own thread, which is the only one using the ``SiteFeed``; while it commits,
other connections' frames wait in their socket buffers), and only then
answers each: ``AA``; ``AE`` / ``AR`` with the reason in MSA-3 and ERR.
A failed transaction answers nothing and closes the connections concerned:
the sender retransmits, and MSH-10 control ids make the retry safe. The same
thread expires held messages and rebuilds the
site's rollups every ``rollup_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from hospiflow.feeds import adt
from hospiflow.feeds.apply import Bad, Message, Outcome, SiteFeed

log = logging.getLogger("hospiflow.feeds.mllp")

START, END = b"\x0b", b"\x1c\x0d"


@dataclass(frozen=True)
class Limits:
    """What one listener accepts (``hospiflow ingest mllp`` options)."""

    max_connections: int = 32
    max_message_bytes: int = 1_048_576
    message_seconds: float = 30.0
    idle_seconds: float = 600.0
    hold_seconds: float = 600.0  # a held message is quarantined after this
    rollup_seconds: float = 10.0
    batch: int = 1000  # most messages committed together


class Listener:
    """One site's MLLP listener (``await serve()``; ``close()`` stops it)."""

    def __init__(
        self,
        engine: Engine,
        site: str | int,
        host: str = "127.0.0.1",
        port: int = 2575,
        limits: Limits | None = None,
    ) -> None:
        self.feed = SiteFeed(engine, site, actor="mllp", format="mllp", keep_connection=True)
        self.host, self.port = host, port
        self.limits = limits or Limits()
        self.connections = 0
        self.received = 0
        self._numbers = itertools.count(1)
        self._acks = itertools.count(1)
        self._queue: asyncio.Queue[tuple[Message | Bad, asyncio.Future[Outcome]]] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._clients: set[asyncio.Task[object]] = set()

    async def start(self) -> int:
        """Listen; return the port (useful with port 0)."""
        self._queue = asyncio.Queue()
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=self.limits.max_message_bytes + 2
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks = [
            asyncio.create_task(self._writer()),
            asyncio.create_task(self._housekeeping()),
        ]
        log.info("MLLP listener for site %s on %s:%d", self.feed.site["name"], self.host, self.port)
        return self.port

    async def serve(self, ready: Callable[[int], None] | None = None) -> None:
        port = await self.start()
        if ready is not None:
            ready(port)
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [*self._tasks, *self._clients]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.feed.close()
        if self._server is not None:
            await self._server.wait_closed()

    # ------------------------------------------------------------------ connections

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        if self.connections >= self.limits.max_connections:
            log.warning(
                "refused %s: %d connections open (limit %d)",
                peer,
                self.connections,
                self.limits.max_connections,
            )
            writer.close()
            return
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:  # an ACK is small: do not let Nagle hold it back
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            await self._frames(peer, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _frames(
        self, peer: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        limits = self.limits
        while True:
            try:  # asyncio.timeout, not wait_for: no task per frame
                async with asyncio.timeout(limits.idle_seconds):
                    skipped = await self._start(reader)
            except TimeoutError:
                log.info("closed %s: idle for %g s", peer, limits.idle_seconds)
                return
            if skipped is None:
                return  # the peer closed
            if skipped:
                log.warning("skipped %d byte(s) outside MLLP frames from %s", skipped, peer)
            try:
                async with asyncio.timeout(limits.message_seconds):
                    frame = await reader.readuntil(END)
            except TimeoutError:
                log.warning(
                    "dropped %s: no complete message within %g s (slow sender)",
                    peer,
                    limits.message_seconds,
                )
                return
            except asyncio.LimitOverrunError:
                log.warning("dropped %s: a message over %d bytes", peer, limits.max_message_bytes)
                reason = f"message over {limits.max_message_bytes} bytes"
                with contextlib.suppress(ConnectionError):
                    await self._send(writer, b"", None, "AR", reason)
                return
            except asyncio.IncompleteReadError:
                log.info("closed %s in the middle of a message", peer)
                return
            data = frame[: -len(END)]
            if START in data:  # a new frame began before this one ended: keep the last
                data = data[data.rindex(START) + 1 :]
            item = adt.parse(data, next(self._numbers), self.feed.settings, "mllp")
            self.received += 1
            future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
            assert self._queue is not None
            await self._queue.put((item, future))
            try:
                outcome = await future
            except Exception as error:  # noqa: BLE001 - not committed: no answer
                log.error("closed %s: message not committed (%s)", peer, type(error).__name__)
                return
            if outcome.status == "quarantined":
                log.info(
                    "NACK %s to %s (control id %r): %s %s",
                    outcome.ack,
                    peer,
                    item.control_id,
                    outcome.reason,
                    outcome.field or "",
                )
            await self._send(writer, item, outcome)

    async def _start(self, reader: asyncio.StreamReader) -> int | None:
        """Wait for a start byte; how many bytes came before it (None: the peer closed)."""
        skipped = 0
        while True:
            byte = await reader.read(1)
            if not byte:
                return None
            if byte == START:
                return skipped
            skipped += 1
            if skipped > self.limits.max_message_bytes:
                raise ConnectionError("too much data outside MLLP frames")

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        data: bytes | Message | Bad,
        outcome: Outcome | None,
        code: str | None = None,
        reason: str | None = None,
    ) -> None:
        control = f"HF{next(self._acks)}"
        answer = adt.ack(data, outcome, control, code=code, reason=reason)
        writer.write(START + answer + END)
        await writer.drain()

    # ------------------------------------------------------------------ the writer

    async def _writer(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.limits.batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            items = [item for item, _future in batch]
            try:
                # in the loop's own thread (a worker-thread hop per commit measured ~10 %
                # slower); meanwhile other connections' frames wait and form the next batch
                outcomes = self.feed.apply_messages(items)
            except Exception as error:  # noqa: BLE001 - each sender retransmits
                log.exception("a batch of %d message(s) was not committed", len(items))
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_item, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def _housekeeping(self) -> None:
        """Held messages past their time into the quarantine, and the rollups rebuilt
        (in the loop's thread, like the writer: ``SiteFeed`` is used by one thread)."""
        while True:
            await asyncio.sleep(self.limits.rollup_seconds)
            try:
                expired = self.feed.expire_held(self.limits.hold_seconds)
                if expired:
                    log.warning(
                        "quarantined %d held message(s): no registration within %g s",
                        expired,
                        self.limits.hold_seconds,
                    )
                self.feed.refresh_rollups()
            except Exception:  # noqa: BLE001 - tried again next time
                log.exception("feed housekeeping failed")


def run(engine: Engine, site: str | int, host: str, port: int, limits: Limits) -> None:
    """Serve until interrupted (the CLI's entry point)."""
    listener = Listener(engine, site, host, port, limits)

    def ready(bound: int) -> None:
        print(f"MLLP listener for site {listener.feed.site['name']} on {host}:{bound}", flush=True)

    gc.freeze()  # startup's objects out of the collector's way (see ``hospiflow serve``)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(listener.serve(ready))


class InThread:
    """A listener on an event loop of its own thread (``hospiflow serve --mllp-site``)."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="hospiflow-mllp", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.listener.start())
        except BaseException as error:  # noqa: BLE001 - raised in start()
            self._error = error
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()
        self.loop.close()

    def start(self) -> int:
        """Start listening; the port (raises what the listener raised, e.g. a port in use)."""
        self.thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise self._error
        return self.listener.port

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.listener.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
