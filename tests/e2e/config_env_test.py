#!/usr/bin/python3
"""Options from NETPULSE_* environment variables and a --config TOML file, in every subcommand:
the command line wins over the environment, which wins over the file (issue 15).

Checked through what the program does with the values (the params of `process`'s results, its
summary on stderr, `generate`'s output), not through the arguments: a file's value applies; the
environment beats the file; the command line beats both; a flag from either (quiet = true,
NETPULSE_QUIET=1) works; a [process] table works; an unknown key, an unreadable file and a bad
value are one-line errors with exit status 2; every subcommand's --help explains the three
sources.

Run with: /usr/bin/python3 tests/e2e/config_env_test.py -v --binary build/netpulse
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e_support  # noqa: E402

NETPULSE = None


class ConfigEnvTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.input = os.path.join(cls.dir.name, "in.txt")
        subprocess.run([NETPULSE, "generate", "-q", "--count", "3000", "--rate", "100", "--seed", "1",
                        "--start-time", "2020-01-01 00:00:00", "--output", "file:" + cls.input],
                       check=True)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def process(self, args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
        e.update(env or {})
        return subprocess.run([NETPULSE, "process", "--input", self.input] + args, env=e,
                              capture_output=True, text=True, timeout=60)

    def params(self, out, query="protocol-topk"):
        for line in out.splitlines():
            o = json.loads(line)
            if o["query"] == query:
                return o["params"]
        self.fail("no %s result" % query)

    def test_file_then_environment_then_command_line(self):
        cfg = self.write("c.toml", 'T = 7\nk = 2\nmemory-limit = "512MiB"\n')
        r = self.process(["--config", cfg])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.params(r.stdout), {"T": 7, "k": 2})
        r = self.process(["--config", cfg], {"NETPULSE_T": "5"})
        self.assertEqual(self.params(r.stdout), {"T": 5, "k": 2})
        r = self.process(["--config", cfg, "--T", "3"], {"NETPULSE_T": "5", "NETPULSE_K": "4"})
        self.assertEqual(self.params(r.stdout), {"T": 3, "k": 4})
        r = self.process(["--config=" + cfg, "--k=1"])
        self.assertEqual(self.params(r.stdout), {"T": 7, "k": 1})

    def test_flags_and_a_subcommand_table(self):
        r = self.process([])
        self.assertIn("records read", r.stderr)
        r = self.process([], {"NETPULSE_QUIET": "1"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("records read", r.stderr)
        cfg = self.write("q.toml", "[process]\nquiet = true\nX = 1.5\n")
        r = self.process(["--config", cfg])
        self.assertNotIn("records read", r.stderr)
        self.assertEqual(self.params(r.stdout, "ip-outliers"), {"T": 10, "X": 1.5})
        # A table of another subcommand is not this one's.
        cfg = self.write("g.toml", "[generate]\nrate = 5\n[process]\nH = 20\n")
        r = self.process(["--config", cfg])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.params(r.stdout, "ip-share"), {"T": 10, "H": 20})

    def test_other_subcommands_take_them_too(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
        e.update({"NETPULSE_COUNT": "7", "NETPULSE_SEED": "3"})
        cfg = self.write("gen.toml", 'start-time = "2020-01-01 00:00:00"\nrate = 10\n')
        r = subprocess.run([NETPULSE, "generate", "-q", "--config", cfg], env=e,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 7)
        self.assertTrue(lines[1].startswith("2020-01-01 00:00:00.100"), lines[1])

    def test_errors_are_one_line_with_status_two(self):
        bad = self.write("b.toml", "bogus = 1\n")
        cases = [
            (["--config", bad], {}, "'bogus' is not an option of netpulse process"),
            (["--config", os.path.join(self.dir.name, "missing.toml")], {}, "cannot be read"),
            ([], {"NETPULSE_T": "abc"}, "--T"),
            (["--config"], {}, "--config"),
        ]
        for args, env, text in cases:
            r = self.process(args, env)
            self.assertEqual(r.returncode, 2, (args, env, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(text, r.stderr)

    def test_every_subcommand_help_explains_the_sources(self):
        subs = ["run", "process", "generate", "merge", "kafka-mock", "train", "evaluate", "classify",
                "detect-flows", "collect"]
        for sub in subs:
            r = subprocess.run([NETPULSE, sub, "--help"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, sub)
            text = " ".join(r.stdout.split())
            self.assertIn("--config", text, sub)
            self.assertIn("NETPULSE_<NAME>", text, sub)
            self.assertIn("command line wins over the environment", text, sub)


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    if not NETPULSE:
        sys.exit("usage: config_env_test.py --binary PATH [unittest options]")
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
