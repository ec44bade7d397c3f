"""Finding a cycle in a small dependency graph (derived values, rules through facts)."""

from __future__ import annotations


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle as a list of nodes that starts and ends with the same node, or None.

    ``graph`` maps each node to the nodes it depends on; nodes missing from it have no
    dependencies. Iterative, so a long chain cannot exhaust the interpreter's stack.
    """
    finished: set[str] = set()
    for start in graph:
        if start in finished:
            continue
        path: list[str] = [start]
        on_path = {start}
        pending = [iter(graph.get(start, ()))]
        while pending:
            following = next(pending[-1], None)
            if following is None:
                node = path.pop()
                on_path.discard(node)
                finished.add(node)
                pending.pop()
                continue
            if following in on_path:
                return [*path[path.index(following) :], following]
            if following not in finished:
                path.append(following)
                on_path.add(following)
                pending.append(iter(graph.get(following, ())))
    return None
