"""The daemon's reading of a shim stream: output frames in order, the exit code set aside."""

from __future__ import annotations

import asyncio

from wharf.shim import frames


def _read(data: bytes) -> tuple[list[tuple[int, bytes]], frames.Output]:
    async def main() -> tuple[list[tuple[int, bytes]], frames.Output]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        out = frames.Output(reader)
        return [item async for item in out], out
    return asyncio.run(main())


def test_output_in_order_and_the_exit_code_of_the_closing_control_message() -> None:
    got, out = _read(frames.frame(frames.STDOUT, b"out\n") + frames.frame(frames.STDERR, b"err\n")
                     + frames.control({"exit_code": 3}))
    assert got == [(frames.STDOUT, b"out\n"), (frames.STDERR, b"err\n")]
    assert out.control == {"exit_code": 3} and out.exit_code(-1) == 3


def test_a_stream_cut_mid_frame_keeps_what_came_whole_and_reports_no_exit() -> None:
    data = frames.frame(frames.STDOUT, b"whole") + frames.frame(frames.STDOUT, b"cut short")
    got, out = _read(data[:-3])
    assert got == [(frames.STDOUT, b"whole")]
    assert out.control is None and out.exit_code(126) == 126
