"""Detach keys: the key sequence that ends an attach or exec stream with a tty
and leaves the process running (``docker attach``'s ctrl-p ctrl-q).

As dockerd, the daemon watches the client's stdin for it (moby's
``copyEscapable`` over ``term.NewEscapeProxy``), so any client gets it: the
docker CLI (which sends its config file's ``detachKeys``), docker-py, a raw
socket. The keys are written as moby's ``term.ToBytes`` reads them: a comma
list of single characters, ``ctrl-@``..``ctrl-_`` and ``DEL``.
"""

from __future__ import annotations

DEFAULT = b"\x10\x11"  # ctrl-p,ctrl-q

#: ``ctrl-@`` is 0, ``ctrl-a`` 1 ... ``ctrl-_`` 31 (moby/term's ASCII table)
_CTRL = {f"ctrl-{ch}": code for code, ch in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}


def parse(keys: str) -> bytes:
    """The bytes of a detach-keys string; ValueError (moby's words) when one is unknown."""
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes += key.encode("latin-1", "replace")
        elif key in _CTRL:
            codes.append(_CTRL[key])
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class EscapeFilter:
    """Stdin as it goes to the process, minus a detach sequence: ``feed`` returns what
    to pass on and whether the sequence was typed. Bytes that begin the sequence are
    held back until they turn out to be something else (then they go on, as moby's
    proxy gives them back). Unlike moby's proxy, which only matches a read of
    exactly one byte, the sequence is matched across and within reads, so it does
    not depend on how the client's writes were split on the way."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = 0  # how many bytes of the sequence were matched so far

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._held]:
                self._held += 1
                if self._held == len(self.keys):
                    return bytes(out), True
                continue
            if self._held:  # a false start: what was held is input after all
                out += self.keys[:self._held]
                self._held = 1 if byte == self.keys[0] else 0
                if self._held:
                    continue
            out.append(byte)
        return bytes(out), False
