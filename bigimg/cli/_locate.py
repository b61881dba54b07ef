"""Line numbers for places in a pipeline file, so that messages can point at them.

A place is a key path such as ``("steps", 2, "sigma")`` or ``("outputs", "labels")``.
For YAML the composed node tree knows every node's line. TOML parsers give no
positions, so the text is scanned: the table header (the ``k``-th ``[[steps]]`` for
``steps[k]``), then the first ``key =`` below it. Best effort: ``None`` when not found.
"""

from __future__ import annotations

import re

__all__ = ["Locator"]


class Locator:
    """Best-effort line numbers for places in a TOML or YAML text."""

    def __init__(self, text: str, yaml_root=None) -> None:
        self.lines = text.splitlines()
        self.yaml_root = yaml_root
        self.headers = []
        for i, line in enumerate(self.lines, 1):
            m = re.match(r"\s*(\[\[?)\s*([\w.\-\"' ]+?)\s*\]\]?\s*(#.*)?$", line)
            if m:
                self.headers.append((i, m.group(2).replace(" ", ""), m.group(1) == "[["))

    def line(self, path: tuple) -> int | None:
        if self.yaml_root is not None:
            return self._yaml_line(path)
        start, end, rest = 0, len(self.lines), list(path)
        heads = self.headers
        if len(path) >= 2 and isinstance(path[1], int):
            hits = [h for h in heads if h[1] == path[0] and h[2]]
            if path[1] >= len(hits):
                return None
            start, rest = hits[path[1]][0], list(path[2:])
        else:
            for k in range(len(path), 0, -1):
                dotted = ".".join(str(p) for p in path[:k])
                hit = next((h for h in heads if h[1] == dotted), None)
                if hit:
                    start, rest = hit[0], list(path[k:])
                    break
        later = [h[0] for h in heads if h[0] > start]
        end = later[0] - 1 if later and start else end
        found = start or None
        for key in rest:
            pattern = re.compile(rf"(^|[\s{{,;]){re.escape(str(key))}\s*=")
            for j in range(max(found or start, start), end + 1):
                if j and pattern.search(self.lines[j - 1]):
                    found = j
                    break
        return found

    def _yaml_line(self, path: tuple) -> int | None:
        node = self.yaml_root
        for key in path:
            if node.id == "sequence" and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
            elif node.id == "mapping":
                hit = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
                if hit is None:
                    break
                node = hit
            else:
                break
        return node.start_mark.line + 1
