"""``key_averages()``: events grouped by name (and input shapes or stack), with PyTorch's
FunctionEventAvg fields in microseconds, and the table ``.table()`` prints."""


class FunctionEventAvg:
    """Totals of the events sharing a key. Times in microseconds, memory in bytes."""

    def __init__(self, key, input_shapes=None, stack=None):
        self.key, self.input_shapes, self.stack = key, input_shapes, stack
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.device_time_total = self.self_device_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, event):
        self.count += 1
        self.cpu_time_total += event.duration_ns / 1e3
        self.self_cpu_time_total += event.self_ns / 1e3
        self.device_time_total += event.device_ns / 1e3
        self.self_device_time_total += event.device_ns / 1e3  # ops launch no nested kernels here
        self.cpu_memory_usage += event.memory
        self.self_cpu_memory_usage += event.self_memory

    @property
    def cpu_time(self):
        """Average CPU time per call."""
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def device_time(self):
        return self.device_time_total / self.count if self.count else 0.0

    # PyTorch's older names for the device fields
    cuda_time_total = property(lambda self: self.device_time_total)
    self_cuda_time_total = property(lambda self: self.self_device_time_total)
    cuda_time = property(lambda self: self.device_time)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_time(self.self_cpu_time_total)} "
                f"cpu_time={_time(self.cpu_time_total)} count={self.count}>")


def key_averages(events, group_by_input_shape=False, group_by_stack_n=0):
    rows = {}
    for event in events:
        key = [event.name]
        if group_by_input_shape:
            key.append(str(event.input_shapes))
        if group_by_stack_n and event.stack:
            key.append(tuple(event.stack[:group_by_stack_n]))
        key = tuple(key)
        row = rows.get(key)
        if row is None:
            row = rows[key] = FunctionEventAvg(
                event.name, event.input_shapes if group_by_input_shape else None,
                event.stack[:group_by_stack_n] if group_by_stack_n and event.stack else None)
        row.add(event)
    return EventList(rows.values())


class EventList(list):
    """Rows of key_averages(); ``table()`` formats them."""

    def table(self, sort_by=None, row_limit=100, max_name_column_width=55, header=None, **_ignored):
        return build_table(self, sort_by, row_limit, max_name_column_width, header)

    def __str__(self):
        return self.table()


def build_table(rows, sort_by=None, row_limit=100, max_name_column_width=55, header=None):
    rows = list(rows)
    if sort_by is not None:
        if rows and not hasattr(rows[0], sort_by):
            raise ValueError(f"table: unknown sort_by={sort_by!r}; sort by one of self_cpu_time_total, "
                             "cpu_time_total, cpu_time, count, self_device_time_total, device_time_total, "
                             "cpu_memory_usage, self_cpu_memory_usage")
        rows.sort(key=lambda row: getattr(row, sort_by), reverse=True)
    total_self = sum(row.self_cpu_time_total for row in rows)
    total_device = sum(row.self_device_time_total for row in rows)
    with_device = total_device > 0
    with_memory = any(row.cpu_memory_usage for row in rows)
    with_shapes = any(row.input_shapes is not None for row in rows)
    if row_limit is not None and row_limit > 0:
        rows = rows[:row_limit]

    columns = [("Self CPU %", lambda r: _share(r.self_cpu_time_total, total_self)),
               ("Self CPU", lambda r: _time(r.self_cpu_time_total)),
               ("CPU total %", lambda r: _share(r.cpu_time_total, total_self)),
               ("CPU total", lambda r: _time(r.cpu_time_total)),
               ("CPU time avg", lambda r: _time(r.cpu_time))]
    if with_device:
        columns += [("Self CUDA", lambda r: _time(r.self_device_time_total)),
                    ("Self CUDA %", lambda r: _share(r.self_device_time_total, total_device)),
                    ("CUDA total", lambda r: _time(r.device_time_total)),
                    ("CUDA time avg", lambda r: _time(r.device_time))]
    if with_memory:
        columns += [("CPU Mem", lambda r: _memory(r.cpu_memory_usage)),
                    ("Self CPU Mem", lambda r: _memory(r.self_cpu_memory_usage))]
    columns.append(("# of Calls", lambda r: str(r.count)))

    name_width = min(max([len("Name")] + [len(r.key) for r in rows]) + 4, max_name_column_width)
    shapes_width = min(max([len("Input Shapes")] + [len(str(r.input_shapes)) for r in rows]) + 2, 80)
    widths = [name_width] + [12] * len(columns) + ([shapes_width] if with_shapes else [])
    rule = "  ".join("-" * w for w in widths)

    def line(cells):
        name, *rest = cells
        text = [name[:name_width].ljust(name_width)] + [c.rjust(12) for c in rest[:len(columns)]]
        if with_shapes:
            text.append(rest[len(columns)][:shapes_width].ljust(shapes_width))
        return "  ".join(text).rstrip()

    out = [header] if header else []
    out += [rule, line(["Name"] + [title for title, _ in columns] + (["Input Shapes"] if with_shapes else [])), rule]
    for row in rows:
        shapes = [str(row.input_shapes) if row.input_shapes is not None else ""] if with_shapes else []
        name = row.key if len(row.key) <= name_width else row.key[:name_width - 3] + "..."
        out.append(line([name] + [cell(row) for _, cell in columns] + shapes))
    out += [rule, f"Self CPU time total: {_time(total_self)}"]
    if with_device:
        out.append(f"Self CUDA time total: {_time(total_device)}")
    return "\n".join(out) + "\n"


def _time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _share(part, whole):
    return f"{100.0 * part / whole:.2f}%" if whole else "NaN"


def _memory(nbytes):
    for scale, unit in ((1024 ** 3, "Gb"), (1024 ** 2, "Mb"), (1024, "Kb")):
        if abs(nbytes) >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes} b"
