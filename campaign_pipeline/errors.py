"""The one error type for input a user must fix, worded to be read in the UI and the CLI."""

from collections.abc import Sequence


class InputDataError(ValueError):
    """Bad input: says what is wrong, where (file, column, rows) and what was expected.

    Row numbers are file line numbers (the header is line 1), so a user can open the
    file at the right place. Only a few offending values are quoted, never whole rows.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        column: str | None = None,
        lines: Sequence[int] = (),
        expected: str | None = None,
        fix: str | None = None,
    ):
        self.problem = problem
        self.source = source
        self.column = column
        self.lines = [int(line) for line in lines]
        self.expected = expected
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"In {self.source}"
        if self.column:
            where += f", column '{self.column}'"
        if self.lines:
            shown = ", ".join(str(line) for line in self.lines[:10])
            more = f" and {len(self.lines) - 10} more" if len(self.lines) > 10 else ""
            where += f", line{'s' if len(self.lines) > 1 else ''} {shown}{more}"
        parts = [f"{where}: {self.problem}."]
        if self.expected:
            parts.append(f"Expected {self.expected}.")
        if self.fix:
            parts.append(self.fix)
        return " ".join(parts)


def require_column(frame, column: str, problem: str, *, source: str, expected: str) -> None:
    """Raise :class:`InputDataError` with ``problem`` unless ``frame`` has ``column``."""
    if column not in frame.columns:
        raise InputDataError(problem, source=source, column=column, expected=expected)
