"""--format templates, tables and human units as docker renders them."""

from __future__ import annotations

import pytest

from wharf.cli.commands import ps, stats
from wharf.cli.format import Template, TemplateError, render_each, render_rows
from wharf.humanize import human_duration
from wharf.cli.units import api_timestamp, bytes_size, human_size, parse_duration, ram_in_bytes

DATA = {"Name": "/web", "State": {"Running": True, "Pid": 42}, "Config": {"Labels": {"b": "2", "a": "1"},
        "Env": ["A=1", "B=2"]}, "Count": 3}


@pytest.mark.parametrize("template, expected", [
    ("{{.Name}}", "/web"),
    ("{{.State.Running}}/{{.State.Pid}}", "true/42"),
    ("{{json .Config.Labels}}", '{"b":"2","a":"1"}'),
    ('{{index .Config.Labels "a"}}', "1"),
    ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1><B=2>"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "a=1 b=2 "),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if not .State.Running}}up{{else if .Count}}n{{end}}", "n"),
    ('{{.Name | printf "%q"}}', '"/web"'),
    ('{{upper .Name}} {{lower "AB"}} {{join .Config.Env ","}} {{title "go on"}}', "/WEB ab A=1,B=2 Go On"),
    ("{{.Nope}}", "<no value>"),
    ("{{- .Count }} x {{ .Count -}} ", "3 x 3"),
    ("{{with .State}}{{.Pid}}{{end}}", "42"),
    ("{{len .Config.Env}}", "2"),
    ('{{if eq .Count 3}}three{{end}}', "three"),
])
def test_templates(template: str, expected: str) -> None:
    assert Template(template).render(DATA) == expected


def test_bad_templates_raise() -> None:
    with pytest.raises(TemplateError):
        Template("{{range .X}}")
    with pytest.raises(TemplateError):
        Template("{{nosuchfunc .X}}")


def test_render_each_and_json() -> None:
    assert render_each("{{.Name}}", [DATA, {"Name": "b"}]) == "/web\nb\n"
    assert render_each("json", [{"a": 1}]) == '{"a":1}\n'


def test_ps_table_header_spacing_matches_docker() -> None:
    out = render_rows("", [], ps.HEADERS, ps.DEFAULT)
    assert out == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_ps_rows() -> None:
    container = {"Id": "a" * 64, "Image": "busybox", "Command": "sleep 1000000000000000000",
                 "Created": 1000, "Status": "Up 3 seconds", "Names": ["/web"], "State": "running",
                 "Labels": {"k": "v"},
                 "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"},
                           {"PrivatePort": 443, "Type": "tcp"}]}
    row = ps.container_row(container, trunc=True, now=1000 + 120)
    assert row["ID"] == "a" * 12
    assert row["Command"] == '"sleep 1000000000000…"'
    assert row["RunningFor"] == "2 minutes ago"
    assert row["Ports"] == "0.0.0.0:8080->80/tcp, 443/tcp"
    out = render_rows('table {{.Names}}\\t{{.Label "k"}}', [row], ps.HEADERS, ps.DEFAULT)
    assert out == "NAMES     LABEL\nweb       v\n"
    assert render_rows("{{.ID}}", [row], ps.HEADERS, ps.DEFAULT) == "a" * 12 + "\n"
    assert '"Names":"web"' in render_rows("json", [row], ps.HEADERS, ps.DEFAULT)


def test_stats_computed_like_docker() -> None:
    sample = {"id": "b" * 64, "name": "/db",
              "cpu_stats": {"cpu_usage": {"total_usage": 400}, "system_cpu_usage": 2000, "online_cpus": 2},
              "precpu_stats": {"cpu_usage": {"total_usage": 200}, "system_cpu_usage": 1000},
              "memory_stats": {"usage": 3 * 1024 * 1024, "limit": 8 * 1024 * 1024,
                               "stats": {"total_inactive_file": 1024 * 1024}},
              "networks": {"eth0": {"rx_bytes": 1200, "tx_bytes": 648}},
              "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4_261_000},
                                                             {"op": "Write", "value": 0}]},
              "pids_stats": {"current": 3}}
    row = stats.stats_row("db", sample, no_trunc=False)
    assert row["CPUPerc"] == "40.00%"
    assert row["MemUsage"] == "2MiB / 8MiB"
    assert row["MemPerc"] == "25.00%"
    assert row["NetIO"] == "1.2kB / 648B"
    assert row["BlockIO"] == "4.26MB / 0B"
    assert (row["PIDs"], row["Name"], row["ID"]) == ("3", "db", "b" * 12)


def test_units() -> None:
    assert (human_size(4_261_000), human_size(1200), human_size(648)) == ("4.26MB", "1.2kB", "648B")
    assert bytes_size(1.5 * 1024 ** 3) == "1.5GiB"
    assert ram_in_bytes("512m") == 512 * 1024 ** 2 and ram_in_bytes("1g") == 1024 ** 3
    assert ram_in_bytes("100") == 100
    with pytest.raises(ValueError, match="invalid size: 'abc'"):
        ram_in_bytes("abc")
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5
    assert [human_duration(s) for s in (0.5, 1, 59, 61, 3599, 3600, 90000, 86400 * 3)] == [
        "Less than a second", "1 second", "59 seconds", "About a minute", "59 minutes",
        "About an hour", "25 hours", "3 days"]
    assert api_timestamp("10m", now=1000.5) == "400.500000000"
    assert api_timestamp("2013-01-02T13:23:37Z") == "1357133017.000000000"
    assert api_timestamp("1700000000") == "1700000000"


def test_field_of_a_parenthesized_pipeline():
    data = {"Mounts": [{"Name": "a"}, {"Name": "b"}],
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.18.0.2"}}}}
    out = Template('{{(index .Mounts 1).Name}} {{(index .NetworkSettings.Networks "bridge").IPAddress}}').render(data)
    assert out == "b 172.18.0.2"
