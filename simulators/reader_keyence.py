"""A Keyence SR-series reader on its TCP command port, looking at the camera of a VirtualLine.

Answers what the SR manuals describe for the command port: ``LON`` (``OK,LON``, then after
``decode_seconds`` the read data: ``]d2`` + data + ``:`` + ISO/IEC 15415 overall grade, or
``ERROR``), ``LON,<bank>`` with bank 01-16, ``LOFF`` (``OK,LOFF``). A ``LON`` while a read is
still decoding gets ``ER,LON,20`` (not executable in the current status); wrong parameters get
``ER,<cmd>,01``/``02``; unknown commands ``ER,<cmd>,00``; ``faults.refuse_trigger`` answers
``ER,LON,<code>``.

Alone: ``python -m simulators reader --protocol keyence --port 9004`` runs its own line with
printed GS1 codes.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Self, Unpack

from drivers.keyence.codec import Ack, Command, ErrorReply, KeyenceDevice
from drivers.sansio import drain
from simulators.line import VirtualLine
from simulators.smart_reader import (
    ReaderOptions,
    ReaderServer,
    add_reader_arguments,
    serve_reader,
    wire_faults,
)

DEFAULT_PORT = 9004
BANKS = {f"{n:02d}" for n in range(1, 17)}


class KeyenceReaderSimulator(ReaderServer):
    """SR simulator; ``grades`` False appends no grade, ``symbology_id`` False sends no ]d2."""

    protocol = "keyence"

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grades: bool = True,
        delimiter: str = ":",
        no_read_text: str = "ERROR",
        **common: Unpack[ReaderOptions],
    ) -> None:
        super().__init__(line, host, port, **common)
        self.grades = grades
        self.delimiter = delimiter
        self.no_read_text = no_read_text

    @classmethod
    def from_args(cls, line: VirtualLine, args: argparse.Namespace) -> Self:
        """The simulator the stand-alone command-line options ask for."""
        return cls(
            line, args.host, args.port, seed=args.seed, faults=wire_faults(args),
            grades=not args.no_grades,
            symbology_id=not args.no_symbology_id,
        )  # fmt: skip

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = KeyenceDevice(
            grades=self.grades, delimiter=self.delimiter, no_read=self.no_read_text
        )
        decoding: set[asyncio.Task[None]] = set()
        try:
            while data := await reader.read(4096):
                codec.receive_data(data)
                for command in drain(codec):  # a reader drops what it cannot parse
                    await self._answer(codec, writer, command, decoding)
        finally:
            for task in decoding:
                task.cancel()

    async def _answer(
        self,
        codec: KeyenceDevice,
        writer: asyncio.StreamWriter,
        command: Command,
        decoding: set[asyncio.Task[None]],
    ) -> None:
        name, params = command.name, command.params

        async def reply(message: Ack | ErrorReply) -> None:
            await self.write(writer, codec.send(message))

        if name == "LON":
            if len(params) > 1:
                await reply(ErrorReply(name, 1))
            elif params and params[0] not in BANKS:
                await reply(ErrorReply(name, 2))
            elif decoding:
                await reply(ErrorReply(name, 20))
            elif self.faults.refuse_trigger is not None:
                await reply(ErrorReply(name, self.faults.refuse_trigger))
            elif not self.faults.silent:
                await reply(Ack(name))
                task = asyncio.create_task(self._decode(codec, writer), name="keyence-sim-decode")
                decoding.add(task)
                task.add_done_callback(decoding.discard)
        elif name == "LOFF":
            await reply(ErrorReply(name, 1) if params else Ack(name))
        else:
            await reply(ErrorReply(name, 0))

    async def _decode(self, codec: KeyenceDevice, writer: asyncio.StreamWriter) -> None:
        """Take the read now, send it when decoding is done."""
        read = self.read_camera()
        await asyncio.sleep(self.decode_seconds)
        try:
            await self.write(writer, codec.send(read))
        except (ConnectionError, OSError):
            writer.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options of the stand-alone Keyence reader simulator."""
    add_reader_arguments(p, DEFAULT_PORT)


async def serve(args: argparse.Namespace, *, started: Callable[[int], None] | None = None) -> None:
    """Run the reader simulator with its own virtual line until cancelled."""
    await serve_reader(KeyenceReaderSimulator, args, started)
