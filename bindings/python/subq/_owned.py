"""Lifetime helpers shared by the classes that own C objects."""


class Closable:
    """`with obj:` closes obj at the end of the block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Owned(Closable):
    """Owns a C handle `self._h` that `self._finalizer` (a weakref.finalize)
    frees: close() frees it now, at most once; garbage collection otherwise."""

    def close(self) -> None:
        if self._h is not None:
            self._finalizer()
            self._h = None
