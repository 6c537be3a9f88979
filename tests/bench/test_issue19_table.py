"""bench.issue19: issue 19's table of ratios from full runs (no server needed)."""

from bench import issue19


def row(server, kind, metric, value, scenario="chat"):
    return {"scenario": scenario, "server": f"{server}/{kind}", "processes": 1, "metric": metric, "value": value}


def run(connects_hotline, connects_peer, *, push=None):
    rows = [row("granian", "hotline", "connects/s", connects_hotline), row("granian", "peer", "connects/s", connects_peer),
            row("granian", "bare", "connects/s", 400.0), row("granian", "bare", "CPU per 1:1 message (whole machine)", 1.0)]
    if push is not None:
        rows.append(row("granian", "hotline", "CPU per confirmation (whole machine)", push, scenario="auth_push"))
    return {"rows": rows}


def test_ratios_per_run_their_median_and_whether_the_target_held():
    table = issue19.render([run(150, 100), run(160, 100), run(120, 100)])
    line = next(x for x in table.splitlines() if x.startswith("| WebSocket connects/s | hotline/peer"))
    assert line == "| WebSocket connects/s | hotline/peer | >= 1.5 | 1.50 | 1.60 | 1.20 | 1.50 | median |"
    floor = next(x for x in table.splitlines() if x.startswith("| WebSocket connects/s | hotline/floor"))
    assert floor.endswith("| 0.38 |  |")  # no target: ratio only


def test_a_row_missing_in_a_run_is_a_dash_and_left_out_of_the_median():
    table = issue19.render([run(150, 100), run(160, 0), run(170, 100)])
    line = next(x for x in table.splitlines() if x.startswith("| WebSocket connects/s | hotline/peer"))
    assert "| 1.50 | - | 1.70 | 1.60 | yes |" in line


def test_login_push_is_compared_with_the_floors_cpu_per_delivery():
    table = issue19.render([run(150, 100, push=1.0)])
    line = next(x for x in table.splitlines() if x.startswith("| login push"))
    assert "| 2.00 | 2.00 | yes |" in line  # 1.0 ms against 1.0 ms per 1:1 message, i.e. 0.5 ms per delivery
