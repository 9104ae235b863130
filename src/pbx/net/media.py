"""The media shell: RTP sockets per channel and the drift-free 20 ms ticker.

Each leg's RTP port is a plain non-blocking UDP socket (RTCP on port+1). On Linux every
socket is registered with one ``select.epoll`` of the service's own, and only that epoll's
descriptor is handed to the loop (``loop.add_reader``): one wake-up asks the epoll which
sockets are readable (one system call for all of them) and reads one datagram from each,
handing it straight to the channel's stream with the ``now`` of that wake-up. Readiness is
level-triggered, so a socket with more waiting is simply ready again on the next wake-up;
no read ever fails with ``EAGAIN``, and the loop dispatches one callback per wake-up
instead of one per socket. Where ``select.epoll`` is missing each socket gets its own
``loop.add_reader`` and drains what is waiting. Binding is synchronous, so the call
manager gets its port at once. The ticker runs the engine at ``t0 + k·0.020`` (no drift:
a late tick is followed by an early one), sends what the tick produced from each
channel's own socket (symmetric RTP, RFC 4961), and hands the tick's events to the
application.

Recording files are written off the loop: while ticking, the engine's recorder is
``deferred`` and its :class:`~pbx.media.recorder.BlockWriter` is a
:class:`RecordingWriter` — one worker thread that runs the block writes in order.
After each tick has sent its datagrams the ticker hands the due blocks over
(``engine.write_recordings()``); the thread interleaves each block and makes the
system calls (both release the GIL), so file I/O never delays media.  The
recorder waits for the thread only when it stops a recording or is about to reuse
ring rows a write still reads (the thread has fallen ten ticks behind).
"""

from __future__ import annotations

import asyncio
import errno
import queue
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from pbx.errors import ResourceExhausted
from pbx.loglimit import LogLimiter, bounded
from pbx.media.engine import MediaEngine
from pbx.media.recorder import BlockWriter
from pbx.rtp.ports import PortPool, PortsExhaustedError

if TYPE_CHECKING:
    from pbx.net.webrtc import Session, WebRtcMedia
    from pbx.sip.webrtc_sdp import WebRtcLocal, WebRtcNegotiated

log = structlog.get_logger(__name__)

TICK = 0.020
RCVBUF = 4 * 1024 * 1024


class RecordingWriter:
    """A :class:`~pbx.media.recorder.BlockWriter` that runs jobs on one worker thread, in order."""

    def __init__(self, name: str = "pbx-recording-writer") -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._done = threading.Condition()
        self._submitted = 0
        self._completed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` behind every job submitted before it."""
        self._submitted += 1
        self._jobs.put(job)

    def wait(self) -> None:
        """Block until every job submitted so far has run (at once when idle)."""
        if self._completed == self._submitted:
            return
        with self._done:
            while self._completed < self._submitted:
                self._done.wait()

    def close(self) -> None:
        """Run what is queued, then end the thread."""
        self.wait()
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("recording_write_job_failed")
            with self._done:
                self._completed += 1
                self._done.notify_all()


class _Port:
    __slots__ = ("rtp", "rtcp", "channel", "receive", "webrtc")

    def __init__(self, rtp: socket.socket, rtcp: socket.socket) -> None:
        self.rtp = rtp
        self.rtcp = rtcp
        self.channel: int | None = None
        #: The attached stream's ``receive(data, addr, now)``.
        self.receive: Callable[[bytes, Any, float], None] | None = None
        #: A browser's leg: ICE and DTLS-SRTP own the RTP socket (rtcp-mux).
        self.webrtc: Session | None = None


class MediaService:
    """RTP ports bound on ``host`` from ``pool``, and the engine's ticker."""

    def __init__(
        self,
        engine: MediaEngine,
        pool: PortPool,
        host: str,
        on_events: Callable[[list[object], float], None] | None = None,
        webrtc: bool = True,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.host = host
        self.on_events = on_events
        self._ports: dict[int, _Port] = {}
        self._by_channel: dict[int, _Port] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.log_limit = LogLimiter()
        self._tick_handle: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._k = 0
        self.ticks = 0
        self.tick_seconds: deque[float] = deque(maxlen=3000)
        """How long the last minute of ticks took each (for the metrics)."""
        self.late_ticks = 0
        self.send_errors = 0
        #: Channels whose remote address no socket accepted (they stop sending).
        self.dropped_channels = 0
        self.packets_in = 0
        self.packets_out = 0
        self.tap: Callable[[str, int, bytes], None] | None = None
        """Sees every RTP packet: ``tap("in"|"out", channel, datagram)`` (tests, debugging)."""
        self._writer: RecordingWriter | None = None
        self._recorder_setup: tuple[BlockWriter, bool] | None = None
        self._epoll: Any = select.epoll() if hasattr(select, "epoll") else None
        #: fd → (port, is RTCP), for the sockets registered with ``_epoll``.
        self._by_fd: dict[int, tuple[_Port, bool]] = {}
        self._epoll_watched = False
        #: IPv6 addresses come as 4-tuples: trim them to (host, port) for the cores.
        self._trim_addr = ":" in host
        self._webrtc: WebRtcMedia | None = None
        self.webrtc_enabled = webrtc
        """Browser legs get WebRTC media (aiortc); False answers WebRTC offers 488."""

    # -- MediaTransport ----------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def open(self) -> int:
        """Bind an RTP/RTCP socket pair from the pool; return the RTP port.

        Raises :class:`~pbx.errors.ResourceExhausted` when no pair can be had: the pool is
        used up, every free pair is bound by another program, or the system refuses a
        socket (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM`` ...). Nothing is kept then,
        and the call manager answers the INVITE with 503.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        busy: list[int] = []  # bound by someone else: skipped now, retried by later calls
        try:
            for _ in range(self.pool.size):
                try:
                    port = self.pool.allocate()
                except PortsExhaustedError as exc:
                    raise ResourceExhausted(str(exc)) from exc
                socks: list[socket.socket] = []
                try:
                    for p in (port, port + 1):
                        s = socket.socket(family, socket.SOCK_DGRAM)
                        socks.append(s)
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                        s.setblocking(False)
                        s.bind((self.host, p))
                    entry = _Port(socks[0], socks[1])
                    self._watch(entry)
                except OSError as exc:
                    for s in socks:
                        s.close()
                    if exc.errno == errno.EADDRINUSE:
                        busy.append(port)
                        continue
                    self.pool.release(port)
                    raise ResourceExhausted(f"cannot open an RTP socket: {exc}") from exc
                self._ports[port] = entry
                return port
            raise ResourceExhausted("no free RTP port in the configured range")
        finally:
            for port in busy:
                self.pool.release(port)

    def _watch(self, entry: _Port) -> None:
        """Have the loop deliver what arrives on ``entry``'s sockets; all or nothing."""
        if self._epoll is None:
            self.loop.add_reader(entry.rtp, self._readable, entry, False)
            self.loop.add_reader(entry.rtcp, self._readable, entry, True)
            return
        registered: list[int] = []
        try:
            for sock, rtcp in ((entry.rtp, False), (entry.rtcp, True)):
                self._epoll.register(sock.fileno(), select.EPOLLIN)
                registered.append(sock.fileno())
                self._by_fd[sock.fileno()] = (entry, rtcp)
        except OSError:
            for fd in registered:
                self._by_fd.pop(fd, None)
                self._epoll.unregister(fd)
            raise
        if not self._epoll_watched:
            self.loop.add_reader(self._epoll.fileno(), self._drain)
            self._epoll_watched = True

    @property
    def dtls_fingerprint(self) -> str | None:
        """Our DTLS certificate's ``a=fingerprint`` for WebRTC legs, or None when WebRTC
        media is off or aiortc is not installed."""
        media = self._webrtc_media()
        return media.fingerprint if media is not None else None

    def _webrtc_media(self) -> WebRtcMedia | None:
        if self._webrtc is None and self.webrtc_enabled:
            try:
                from pbx.net.webrtc import WebRtcMedia
            except ImportError as exc:  # pragma: no cover - aiortc is a dependency
                log.warning("webrtc_unavailable", error=str(exc))
                self.webrtc_enabled = False
                return None
            self._webrtc = WebRtcMedia()
        return self._webrtc

    def start_webrtc(self, port: int, local: WebRtcLocal, negotiated: WebRtcNegotiated) -> None:
        """Hand ``port``'s RTP socket to ICE and DTLS-SRTP for a browser's leg: what
        they decrypt goes to the port's channel, what the tick sends for it is encrypted."""
        entry = self._ports.get(port)
        media = self._webrtc_media()
        if entry is None or media is None or entry.channel is None or entry.webrtc is not None:
            return
        self._unwatch(entry.rtp)
        channel = entry.channel
        entry.webrtc = media.start(
            channel,
            entry.rtp,
            local,
            negotiated,
            self.engine.receiver(channel),
            lambda data, addr, now: self.engine.receive_rtcp(channel, data, addr, now),
            self.loop,
        )

    def webrtc_session(self, channel: int) -> Session | None:
        """The WebRTC session of a browser's channel, or None."""
        return self._webrtc.sessions.get(channel) if self._webrtc is not None else None

    def _unwatch(self, sock: socket.socket) -> None:
        if self._epoll is not None:
            if self._by_fd.pop(sock.fileno(), None) is not None:
                self._epoll.unregister(sock.fileno())
        else:
            self.loop.remove_reader(sock)

    def attach(self, port: int, channel: int) -> None:
        """Deliver what arrives on ``port`` to ``channel``."""
        entry = self._ports[port]
        entry.channel = channel
        entry.receive = self.engine.receiver(channel)
        self._by_channel[channel] = entry

    def close(self, port: int) -> None:
        """Unbind ``port`` and return it to the pool."""
        entry = self._ports.pop(port, None)
        if entry is None:
            return
        if entry.channel is not None and self._by_channel.get(entry.channel) is entry:
            del self._by_channel[entry.channel]
        socks: tuple[socket.socket, ...] = (entry.rtp, entry.rtcp)
        if entry.webrtc is not None:
            entry.webrtc.close()  # ICE closes the RTP socket it owns
            if self._webrtc is not None:
                self._webrtc.sessions.pop(entry.webrtc.channel, None)
            socks = (entry.rtcp,)
        for s in socks:
            if self._epoll is not None:
                self._by_fd.pop(s.fileno(), None)
                self._epoll.unregister(s.fileno())
            else:
                self.loop.remove_reader(s)
            s.close()
        self.pool.release(port)

    # -- receive -----------------------------------------------------------------------
    def _drain(self) -> None:
        """The epoll is readable: read one datagram from every ready socket."""
        now = self.loop.time()
        by_fd = self._by_fd
        trim = self._trim_addr
        tap = self.tap
        received = 0
        for fd, _ in self._epoll.poll(0, len(by_fd) or 1):
            found = by_fd.get(fd)
            if found is None:
                continue
            entry, rtcp = found
            try:
                data, addr = (entry.rtcp if rtcp else entry.rtp).recvfrom(2048)
            except OSError:
                continue  # EAGAIN after a spurious wake-up, or an ICMP error
            receive = entry.receive
            if receive is None:
                continue
            if trim:
                addr = (addr[0], addr[1])
            if rtcp or tap is not None:
                self._deliver(entry, rtcp, data, addr, now)
                continue
            received += 1
            receive(data, addr, now)
        self.packets_in += received

    def _deliver(self, entry: _Port, rtcp: bool, data: bytes, addr: Any, now: float) -> None:
        ch = entry.channel
        if ch is None:
            return
        if self.tap is not None:
            self.tap("rtcp-in" if rtcp else "in", ch, data)
        if rtcp:
            self.engine.receive_rtcp(ch, data, addr, now)
        else:
            self.packets_in += 1
            self.engine.receive(ch, data, addr, now)

    def _readable(self, entry: _Port, rtcp: bool) -> None:
        sock = entry.rtcp if rtcp else entry.rtp
        now = self.loop.time()
        for _ in range(256):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._deliver(entry, rtcp, data, (addr[0], addr[1]), now)

    # -- ticker ------------------------------------------------------------------------
    def start(self) -> None:
        """Start ticking every 20 ms, with recording writes on a worker thread."""
        recorder = self.engine.recorder
        if self._writer is None:
            self._writer = RecordingWriter()
            self._recorder_setup = (recorder.writer, recorder.deferred)
            recorder.writer, recorder.deferred = self._writer, True
        self._t0 = self.loop.time()
        self._k = 0
        self._schedule()

    def _schedule(self) -> None:
        self._k += 1
        deadline = self._t0 + self._k * TICK
        now = self.loop.time()
        if deadline < now - 5 * TICK:
            # Far behind (a stall): skip ahead instead of bursting ticks.
            self.late_ticks += 1
            self._k = int((now - self._t0) / TICK) + 1
            deadline = self._t0 + self._k * TICK
        self._tick_handle = self.loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        # Whatever one tick or one channel does, the next tick is scheduled: an
        # exception here must never stop the audio of every other call.
        try:
            self._run_tick()
        except Exception:
            log.exception("media_tick_failed")
        finally:
            self._schedule()

    def tick_percentiles(self) -> tuple[float, float]:
        """p50 and p99 of the last ticks' durations (engine tick, sends, hand-offs), s."""
        if not self.tick_seconds:
            return 0.0, 0.0
        ordered = sorted(self.tick_seconds)
        return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]

    def _run_tick(self) -> None:
        started = time.perf_counter()
        try:
            self._tick_work()
        finally:
            self.tick_seconds.append(time.perf_counter() - started)

    def _tick_work(self) -> None:
        now = self.loop.time()
        out = self.engine.tick(now)
        self.ticks += 1
        by_channel = self._by_channel
        tap = self.tap
        self.packets_out += len(out.payloads)
        for data, addr, ch in zip(out.payloads, out.addresses, out.channels, strict=True):
            entry = by_channel.get(ch)
            if entry is None:
                continue
            if tap is not None:
                tap("out", ch, data)
            if entry.webrtc is not None:
                entry.webrtc.send(data)
                continue
            try:
                entry.rtp.sendto(data, addr)
            except OSError:  # a full buffer, an ICMP error, a family mismatch
                self.send_errors += 1
            except Exception:  # an address no socket can take: this channel only
                self._drop_channel(ch, addr)
        for ch, data, addr in self.engine.rtcp_to_send(now):
            entry = by_channel.get(ch)
            if entry is not None and entry.webrtc is not None:
                entry.webrtc.send(data, rtcp=True)
            elif entry is not None:
                try:
                    entry.rtcp.sendto(data, addr)
                except OSError:
                    self.send_errors += 1
                except Exception:
                    self._drop_channel(ch, addr)
        if out.events and self.on_events is not None:
            try:
                self.on_events(list(out.events), now)
            except Exception:
                log.exception("media_event_handler_failed")
        try:
            self.engine.write_recordings()  # hands due blocks to the writer thread
        except Exception:
            log.exception("media_recording_writes_failed")

    def _drop_channel(self, ch: int, addr: object) -> None:
        """Stop sending for ``ch``, whose destination no socket accepts; keep the rest."""
        self.send_errors += 1
        self.dropped_channels += 1
        entry = self._by_channel.pop(ch, None)
        if entry is not None:
            entry.channel = None
            entry.receive = None
        self.log_limit.log(
            log.warning,
            "media_channel_dropped",
            self.loop.time(),
            channel=ch,
            address=bounded(repr(addr), 80),
        )

    def stop(self) -> None:
        """Stop ticking and close every port."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        for port in list(self._ports):
            self.close(port)
        if self._epoll_watched:
            self.loop.remove_reader(self._epoll.fileno())
            self._epoll_watched = False
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if self._recorder_setup is not None:
                recorder = self.engine.recorder
                recorder.writer, recorder.deferred = self._recorder_setup
                self._recorder_setup = None
