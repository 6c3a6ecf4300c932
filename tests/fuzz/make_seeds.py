#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (tests/fuzz/corpus/TARGET/), once; libFuzzer grows it
from there (bench/fuzz.sh). Seeds are small valid inputs of each format plus a few broken ones.
NetFlow v5/v9/IPFIX datagrams come from `netpulse generate --output netflow://` (caught on a
UDP socket on 127.0.0.1); sFlow v5 datagrams are packed here field by field.

  /usr/bin/python3 tests/fuzz/make_seeds.py build/netpulse
"""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "../../build/netpulse")


def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def flow_lines():
    line = ("2020-05-09 20:41:00.123 HTTPS 10.0.0.1 93.184.216.34 1500\n"
            "2020-05-09 20:41:00 DNS 2001:db8::1 2001:db8::53 80\n"
            "2020-05-09 20:41:01.123456789 SSH 10.0.0.2 10.0.0.3 0\n")
    seed("flow_lines", b"\0" + line.encode())
    seed("flow_lines", b"\0" + b"2020-05-09 20:41:00.1 HTTP 1.2.3.4 5.6.7.8 4294967295\r\n\n   \n")
    seed("flow_lines", b"\0" + b"2020-13-09 20:41:00 HTTP 1.2.3.4 5.6.7.8 1\n2020-05-09 20:41 HTTP 1.2.3 x 1\n")
    seed("flow_lines", b"\0" + (b"2020-05-09 20:41:00.5 P 10.0.0.1 10.0.0.2 7\n" * 8))
    seed("flow_lines", b"\1time,protocol,src,dst,bytes\n"
         b"2020-05-09 20:41:00.5,HTTP,10.0.0.1,10.0.0.2,100\n"
         b"2020-05-09T20:41:01Z,DNS,2001:db8::1,10.0.0.2,60\n")
    seed("flow_lines", b"\1bytes,src,extra,dst,protocol,time\n"
         b"5,1.1.1.1,x,2.2.2.2,NTP,2020-05-09 20:41:00\n\"7\",1.1.1.1,,2.2.2.2,NTP,bad\n")


def nslkdd_rows():
    path = os.path.join(ROOT, "../../../shared/data/nsl-kdd")
    for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        with open(os.path.join(path, name), "rb") as f:
            rows = f.read(4000).split(b"\n")[:6]
        for opts in (0, 3):
            seed("nslkdd_rows", bytes([opts]) + b"\n".join(rows))
        break
    seed("nslkdd_rows", b"\0" + b"0,tcp,http,SF,215,45076,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,1,1,"
         b"0.00,0.00,0.00,0.00,1.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00,0.00,normal.\n"
         b"0,udp,private,SF,105,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,0,255,254,1,0.01,0,0,0,0,0,0\n"
         b"x,tcp\n")


def control_commands():
    seed("control_commands", "change 10 60 3 2\nstart\nstop\nchange 0 1 1 0\nchange 100 3600 1000 1e300\n")
    seed("control_commands", "change_5000_15_19_50_50\nstatus\nchange_1_1_1_0_0\nchange_x\n\nstop\nstart\n")
    seed("control_commands", "change 10 60\nCHANGE 1 2 3 4\nchange nan 5 5 5\nchange 5 -1 5 5\n")


def http_api():
    g, post = b"\0", b"\2"
    for t in ["/api/status", "/metrics", "/api/results/ip-topk?limit=2&since=2020-05-09T20:41:40Z",
              "/api/results/protocol-share/latest", "/api/alerts?limit=5", "/api/history",
              "/api/top?dimension=src&from=-1h&to=now&limit=10&filter=dst=10.0.0.0/8",
              "/api/top?dimension=conversation&from=2020-05-09T03:00:00Z&to=2020-05-09T03:20:00Z",
              "/api/series?dimension=protocol&key=HTTPS&from=-7d&step=1h",
              "/api/sankey?from=-1d&limit=20", "/api/processor", "/api/generator", "/no/such",
              "/api/top?dimension=bogus&from=x", "/api/series?dimension=src&key=1.2.3.4&step=0"]:
        seed("http_api", g + t.encode())
    seed("http_api", post + b"/api/processor/params\n" + json.dumps({"H": 5, "T": 30, "k": 4, "X": 1.5}).encode())
    seed("http_api", post + b"/api/generator/params\n" + json.dumps({"rate": 100, "ips": 5}).encode())
    seed("http_api", post + b"/api/processor/stop\n")
    seed("http_api", post + b"/api/alerts/test\n{\"endpoint\": 0}")
    seed("http_api", b"\4/api/results/ip-topk\n")


def ws_messages():
    msgs = [{"action": "status", "id": 1}, {"action": "auth", "token": "x"},
            {"action": "processor.params", "params": {"H": 20, "T": 5}, "id": 7},
            {"action": "processor.stop"}, {"action": "processor.start"},
            {"action": "generator.params", "params": {"rate": 10}}, {"action": "nope"}]
    seed("ws_messages", b"\0" + b"\n".join(json.dumps(m).encode() for m in msgs))
    seed("ws_messages", b"\1" + b"{\"action\": 5}\n[]\nnot json\n{\"action\":\"processor.params\",\"params\":{\"H\":-1}}")


def pane_codec():
    head = "netpulse-pane 1 flows 2 4 1000 src 1589056860 0 1 3\n"
    seed("pane_codec", head + "p HTTP 300 2\np DNS 60 1\na 10.0.0.1 200 1\na 2001:db8::1 160 2\n")
    summary = "s 10 500\nh " + "01" * 4096 + "\nf " + " ".join(["0"] * 639 + ["5"]) + "\n"
    seed("pane_codec", head + summary + "p HTTP 300 2\na 10.0.0.1 200 1\n")
    seed("pane_codec", "netpulse-mark 1 flows 2 4 1000 src complete-below 1589056861\n")
    seed("pane_codec", "netpulse-mark 1 flows 3 4 1000 host end\n")
    seed("pane_codec", "netpulse-sample 1 flows 1 4 1000 dst 1589056860 0 1 250\n"
         "c 10.0.0.1 10.0.0.2 HTTP 1500\nc 2001:db8::1 10.0.0.2 DNS 60\n")
    seed("pane_codec", "netpulse-pane 1 flows 0 1 1000 src 5 1 2 1\na 1.2.3.4 5 1\n")


def model_loader():
    # The shipped models with one tree each (whole ones are megabytes: slow to mutate) and no
    # training record, then a NUL and a feature row.
    def shrink(m):
        m = dict(m, training={})
        if "trees" in m:
            m["trees"] = m["trees"][:1]
        if "parts" in m:
            m["parts"] = [shrink(p) for p in m["parts"]]
        return m

    models = os.path.join(ROOT, "../../models")
    row = struct.pack("<41f", *[float(i % 7) for i in range(41)])
    for name in sorted(os.listdir(models)):
        with open(os.path.join(models, name)) as f:
            m = shrink(json.load(f))
        seed("model_loader", json.dumps(m, separators=(",", ":")).encode() + b"\0" + row)


def netflow():
    for version in (5, 9, 10):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        port = s.getsockname()[1]
        p = subprocess.run([BINARY, "generate", "--output", f"netflow://127.0.0.1:{port}?version={version}",
                            "--count", "40", "--ipv6-percent", "20"] if version != 5 else
                           [BINARY, "generate", "--output", f"netflow://127.0.0.1:{port}?version={version}",
                            "--count", "40"], capture_output=True)
        if p.returncode != 0:
            sys.exit(p.stderr.decode())
        grams = []
        try:
            while len(grams) < 4:
                grams.append(s.recv(65535))
        except socket.timeout:
            pass
        s.close()
        # The fuzz input: exporter byte, two-byte length, datagram; templates then data.
        seed("netflow", b"".join(b"\0" + struct.pack(">H", len(g)) + g for g in grams))
        for g in grams[:2]:
            seed("netflow", b"\1" + struct.pack(">H", len(g)) + g)


def sflow():
    def frame(src, dst, proto=6):
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, proto, 0, bytes(src), bytes(dst))
        l4 = struct.pack(">HHIIBBHHH", 443, 51000, 0, 0, 0x50, 0x10, 1024, 0, 0)
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4

    def flow_sample(seq, packet):
        pad = (4 - len(packet) % 4) % 4
        raw = struct.pack(">IIII", 1, len(packet), 4, len(packet)) + packet + b"\0" * pad
        record = struct.pack(">II", 1, len(raw)) + raw  # raw packet header
        body = struct.pack(">IIIIIIII", seq, 3, 1000, 5000, 0, 3, 4, 1) + record
        return struct.pack(">II", 1, len(body)) + body  # flow sample

    samples = [flow_sample(i, frame([10, 0, 0, i + 1], [93, 184, 216, 34])) for i in range(3)]
    gram = struct.pack(">II4sIIII", 5, 1, bytes([198, 51, 100, 7]), 0, 42, 123456, len(samples)) + b"".join(samples)
    seed("sflow", b"\0" + struct.pack(">H", len(gram)) + gram)
    seed("sflow", b"\0" + struct.pack(">H", len(gram)) + gram + b"\1" + struct.pack(">H", 28) + gram[:28])


for make in (flow_lines, nslkdd_rows, control_commands, http_api, ws_messages, pane_codec,
             model_loader, netflow, sflow):
    make()
print("seeds written to", os.path.join(ROOT, "corpus"))
