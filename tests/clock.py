"""A clock the test moves by hand, for code that takes a `clock` callable (no sleeping, no timing)."""


class ManualClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now
