"""A small least-recently-used store of encoded prompts.

ComfyUI re-runs graphs with the same prompt and Open-Sora encodes once per loop of a long
video; keeping the last few encodings (on the CPU) skips the T5 pass for them.
"""

from collections import OrderedDict


class EncodingCache:
    """Maps a prompt to its encoding, forgetting the least recently used beyond `capacity`."""

    def __init__(self, capacity: int = 32):
        self.capacity = max(0, int(capacity))
        self._entries: OrderedDict = OrderedDict()

    def get(self, key):
        """The stored value, or None; a hit becomes the most recently used."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key, value) -> None:
        """Store `value`, evicting the oldest entries past capacity."""
        if self.capacity == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
