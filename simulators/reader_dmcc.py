"""A Cognex DataMan reader on DMCC over TCP, looking at the pack at the camera of a VirtualLine.

Answers what linectl's driver uses, the way the Communications and Programming Guide describes:
``SET/GET COM.DMCC-RESPONSE`` (per connection, starting Silent as a reader does after power-up),
``TRIGGER ON`` (acknowledged ``[0]``, then after ``decode_seconds`` the read string as a status-1
frame: ``]d2`` + data + ``,`` + grade, or ``NoRead``), ``TRIGGER OFF``, ``GET DEVICE.TYPE``.
Other commands get 101 (command invalid), bad values 102 (parameter invalid);
``faults.refuse_trigger`` answers triggers with that status (e.g. 105, reader unavailable).
Silent mode sends GET values and read strings bare.

Alone: ``python -m simulators reader --protocol dmcc --port 2300`` runs its own line with
printed GS1 codes.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Self, Unpack

from drivers.dmcc.codec import Command, DmccDevice, Response, Status
from drivers.reader_codec import format_read_text
from drivers.sansio import drain
from simulators.line import VirtualLine
from simulators.smart_reader import (
    ReaderOptions,
    ReaderServer,
    add_reader_arguments,
    serve_reader,
    wire_faults,
)

DEFAULT_PORT = 2300  # real readers listen on 23, which needs root


class DmccReaderSimulator(ReaderServer):
    """DataMan simulator; ``grade_separator`` None sends no grade, ``symbology_id`` False no ]d2."""

    protocol = "dmcc"

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        grade_separator: str | None = ",",
        no_read_text: str = "NoRead",
        **common: Unpack[ReaderOptions],
    ) -> None:
        super().__init__(line, host, port, **common)
        self.grade_separator = grade_separator
        self.no_read_text = no_read_text

    @classmethod
    def from_args(cls, line: VirtualLine, args: argparse.Namespace) -> Self:
        """The simulator the stand-alone command-line options ask for."""
        return cls(
            line, args.host, args.port, seed=args.seed, faults=wire_faults(args),
            grade_separator=None if args.no_grades else ",",
            symbology_id=not args.no_symbology_id,
        )  # fmt: skip

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = DmccDevice()
        while data := await reader.read(4096):
            codec.receive_data(data)
            for command in drain(codec):  # a reader ignores what it cannot parse
                await self._answer(codec, writer, command)

    async def _answer(
        self, codec: DmccDevice, writer: asyncio.StreamWriter, command: Command
    ) -> None:
        words = command.text.upper().split()
        cid = command.command_id

        async def reply(status: int, payload: str = "") -> None:
            await self.write(writer, codec.send(Response(status, payload, cid)))

        match words:
            case ["TRIGGER", "ON"]:
                if self.faults.silent:
                    return
                if self.faults.refuse_trigger is not None:
                    await reply(self.faults.refuse_trigger)
                    return
                read = self.read_camera()
                await reply(Status.NO_ERROR)
                await asyncio.sleep(self.decode_seconds)
                text = format_read_text(
                    read, separator=self.grade_separator, no_read=self.no_read_text
                )
                await self.write(writer, codec.send(Response(Status.READ_STRING, text)))
            case ["TRIGGER", "OFF"]:
                await reply(Status.NO_ERROR)
            case ["SET", "COM.DMCC-RESPONSE", mode]:
                if mode not in ("0", "1"):
                    await reply(Status.PARAMETER_INVALID)
                    return
                await reply(Status.NO_ERROR)  # in the mode the command arrived in
                codec.extended = mode == "1"
            case ["GET", "COM.DMCC-RESPONSE"]:
                await reply(Status.NO_ERROR, "1" if codec.extended else "0")
            case ["GET", "DEVICE.TYPE"]:
                await reply(Status.NO_ERROR, "linectl DataMan simulator")
            case ["GET" | "SET", *_]:
                await reply(Status.PARAMETER_INVALID)
            case _:
                await reply(Status.COMMAND_INVALID)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options of the stand-alone DMCC reader simulator."""
    add_reader_arguments(p, DEFAULT_PORT)


async def serve(args: argparse.Namespace, *, started: Callable[[int], None] | None = None) -> None:
    """Run the reader simulator with its own virtual line until cancelled."""
    await serve_reader(DmccReaderSimulator, args, started)
