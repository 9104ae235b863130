"""A fake shell for IVR runner tests: carries out actions on a hand-driven clock."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pbx.ivr import (
    Digit,
    Finished,
    HungUp,
    IvrAction,
    IvrGraph,
    IvrRunner,
    Lookup,
    LookupService,
    Play,
    PlayEnded,
    RecordingDone,
    SetData,
    StopPlayback,
    demo_balance,
    load_graph,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ivr" / "main.toml"


def example_graph() -> IvrGraph:
    """The example call center's main IVR, prompts checked against the files."""
    return load_graph(EXAMPLE)


class Shell:
    """Drives one IvrRunner like the call layer would, without media.

    Every action is kept in ``log``; the prompt playing is tracked so ``play_ends``
    answers the right ``seq``; ``Lookup`` actions are answered at once by a
    :class:`LookupService` (with ``demo_balance`` registered) unless ``lookups`` is
    False, in which case they wait in ``pending``.
    """

    def __init__(
        self,
        graph: IvrGraph,
        *,
        lang: str = "",
        caller: str = "5551234",
        now: float = 1_000.0,
        lookups: bool = True,
        wall_offset: float = 0.0,
    ) -> None:
        self.runner = IvrRunner(
            graph,
            call="c1",
            caller=caller,
            lang=lang,
            wall=lambda t: t + wall_offset,
        )
        self.now = now
        self.log: list[IvrAction] = []
        self.playing: Play | None = None
        self.pending: list[Lookup] = []
        self.auto_lookups = lookups
        self.service = LookupService()
        self.service.register("demo_balance", demo_balance)

    def _take(self, actions: Iterable[IvrAction]) -> list[IvrAction]:
        taken: list[IvrAction] = []
        for action in actions:
            taken.append(action)
            self.log.append(action)
            if isinstance(action, Play):
                self.playing = action
            elif isinstance(action, StopPlayback):
                self.playing = None
            elif isinstance(action, Lookup):
                if self.auto_lookups:
                    result = self.service.perform(action)
                    taken += self._take(self.runner.handle(result, self.now))
                else:
                    self.pending.append(action)
        return taken

    def start(self) -> list[IvrAction]:
        return self._take(self.runner.start(self.now))

    def send(self, event: object) -> list[IvrAction]:
        return self._take(self.runner.handle(event, self.now))  # type: ignore[arg-type]

    def press(self, keys: str) -> list[IvrAction]:
        out: list[IvrAction] = []
        for key in keys:
            out += self.send(Digit(key))
        return out

    def play_ends(self) -> list[IvrAction]:
        """The prompt playing now finishes."""
        assert self.playing is not None, "nothing is playing"
        seq = self.playing.seq
        self.playing = None
        return self.send(PlayEnded(seq))

    def listen(self) -> list[IvrAction]:
        """Let prompts play to their end until the runner waits for something else."""
        out: list[IvrAction] = []
        while self.playing is not None:
            out += self.play_ends()
        return out

    def wait(self, seconds: float) -> list[IvrAction]:
        """Let ``seconds`` pass, firing the runner's deadlines on the way."""
        end = self.now + seconds
        out: list[IvrAction] = []
        while True:
            deadline = self.runner.get_timer()
            if deadline is None or deadline > end:
                break
            self.now = deadline
            out += self._take(self.runner.handle_timer(self.now))
        self.now = end
        return out

    def recording_done(self, path: str, seconds: float) -> list[IvrAction]:
        return self.send(RecordingDone(path, seconds))

    def hang_up(self) -> list[IvrAction]:
        return self.send(HungUp())

    @property
    def finished(self) -> Finished | None:
        return self.runner.finished

    def played(self) -> list[tuple[object, ...]]:
        """The item tuples of every Play so far."""
        return [a.items for a in self.log if isinstance(a, Play)]

    def data(self) -> dict[str, object]:
        """What SetData attached, last value per key."""
        return {a.key: a.value for a in self.log if isinstance(a, SetData)}

    def of(self, kind: type) -> list[IvrAction]:
        return [a for a in self.log if isinstance(a, kind)]
