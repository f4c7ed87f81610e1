"""The per-connection outbox: order, gaps, throttling and overflow, on a fake clock (no database)."""

from tasks_app.live.outbox import Outbox


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def ev(seq, kind="task.status", task=None, **data):
    return {"type": "event", "seq": seq, "kind": kind, "task": task, "data": data}


def sent(step):
    return [f["seq"] for f in step.frames if f["type"] == "event"]


def test_events_go_out_in_order_once_and_gaps_are_reported():
    box = Outbox(next_seq=5)
    box.push([ev(7), ev(5), ev(5), ev(3)])
    step = box.step()
    assert sent(step) == [5]
    assert step.gap == (6, 7)
    box.push([ev(6)])
    assert sent(box.step()) == [6, 7]
    assert box.last_sent == 7 and box.backlog == 0


def test_reset_drops_what_a_snapshot_covers():
    box = Outbox(next_seq=1)
    box.push([ev(2), ev(3), ev(9)])
    box.reset(3)
    step = box.step()
    assert sent(step) == [] and step.gap == (4, 9)


def test_superseded_progress_is_dropped_and_announced():
    clock = Clock()
    box = Outbox(next_seq=1, clock=clock)
    box.push(
        [
            ev(1, "task.progress", "a", progress=0.1),
            ev(2, "task.progress", "b", progress=0.5),
            ev(3, "task.progress", "a", progress=0.2),
            ev(4, "task.status", "a"),
        ]
    )
    step = box.step()
    assert [f["type"] for f in step.frames] == ["dropped", "event", "event", "event"]
    assert step.frames[0]["seqs"] == [[1, 1]] and step.frames[0]["counts"] == {"task.progress": 1}
    assert sent(step) == [2, 3, 4]


def test_progress_of_one_task_goes_out_at_most_ten_times_a_second_and_the_last_value_arrives():
    clock = Clock()
    box = Outbox(next_seq=1, clock=clock)
    box.push([ev(1, "task.progress", "a", progress=0.1)])
    assert sent(box.step()) == [1]
    clock.now += 0.01
    box.push([ev(2, "task.progress", "a", progress=0.2), ev(3, "task.status", "b")])
    step = box.step()
    assert sent(step) == [] and abs(step.wait - 0.09) < 1e-9  # held back, and the stream waits
    clock.now += 0.05
    box.push([ev(4, "task.progress", "a", progress=0.3)])
    step = box.step()
    assert step.frames[0]["seqs"] == [[2, 2]] and step.wait is not None  # 2 superseded by 4
    assert sent(step) == [3]
    clock.now += 0.05
    assert sent(box.step()) == [4]


def test_log_lines_beyond_the_cap_are_dropped_and_counted():
    clock = Clock()
    box = Outbox(next_seq=1, log_per_second=10, log_burst=5, clock=clock)
    box.push([ev(i, "task.log", "a", line=i) for i in range(1, 21)])
    step = box.step()
    assert sent(step) == [1, 2, 3, 4, 5]
    assert step.frames[-1] == {
        "type": "dropped",
        "seqs": [[6, 20]],
        "counts": {"task.log": 15},
        "total": {"task.log": 15},
    }
    clock.now += 0.5  # five more tokens
    box.push([ev(i, "task.log", "a", line=i) for i in range(21, 31)] + [ev(31)])
    step = box.step()
    assert sent(step) == [21, 22, 23, 24, 25, 31]
    assert step.frames[5]["seqs"] == [[26, 30]] and step.frames[5]["total"] == {"task.log": 20}


def test_a_backlog_over_the_limit_asks_for_a_snapshot():
    box = Outbox(next_seq=1, max_backlog=10)
    box.push([ev(i) for i in range(2, 14)])
    assert box.overflowed and box.backlog == 0
    box.reset(40)
    assert not box.overflowed and box.next_seq == 41


def test_a_deletion_notice_is_kept_aside():
    box = Outbox(next_seq=1)
    box.push([{"type": "event", "seq": None, "kind": "tree.deleted", "tree": "t"}])
    assert box.deleted["kind"] == "tree.deleted" and box.backlog == 0
