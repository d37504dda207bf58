"""BuildKit's "(did you mean X?)": the nearest known word, fewer than 3 edits away."""

from __future__ import annotations


def suggestion(word: str, options: list[str] | tuple[str, ...], case_sensitive: bool = True) -> str:
    """`` (did you mean X?)`` for the closest option, or "" (also for an exact match).

    Without ``case_sensitive`` the words are compared in upper case and the
    answer takes the case ``word`` was written in (``rnu`` -> ``run``).
    """
    key = word if case_sensitive else word.upper()
    best, distance = "", 3
    for option in options:
        d = edit_distance(key, option if case_sensitive else option.upper())
        if d == 0:
            return ""
        if d < distance:
            best, distance = option, d
    if best and not case_sensitive:
        best = best.lower() if word.islower() else best.upper() if word.isupper() else best
    return f" (did you mean {best}?)" if best else ""


def edit_distance(a: str, b: str) -> int:
    """Edits between two words, a swap of neighbours counting as one (RNU -> RUN)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]
