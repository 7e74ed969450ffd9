#!/usr/bin/env python3
"""standard-supervisor (podvisor called by that name) driven the way MHCS's own CLI tests
drive theirs (python/tests/integration/test_supervisor_cli_integration.py and
test_dependency_install_integration.py of aws/model-hosting-container-standards): signal
handling, continuous restart, the retry limit, the generated supervisord.conf (read back by
Debian's supervisord and supervisorctl when installed) and the dependency install (a tiny
wheel built here, installed offline with --find-links into a venv; the system python is
never touched).

Run: PODVISOR_BINARY=build/podvisor python3 tests/python/test_standard_supervisor.py -v
Every wait polls for its condition with a deadline; nothing asserts a duration.
"""

import base64
import configparser
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zipfile

PODVISOR = os.environ.get("PODVISOR_BINARY", "")
DEADLINE = 30.0  # seconds any one condition may take before the test fails


def read(path):
    """The file's text, or "" while it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(condition, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Run:
    """standard-supervisor running, its stdout and stderr drained into buffers."""

    def __init__(self, exe, args, env, cwd):
        self.proc = subprocess.Popen(
            [exe] + args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self._out, self._err = bytearray(), bytearray()
        self._readers = [threading.Thread(target=self._drain, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self._out),
                                      (self.proc.stderr, self._err))]
        for r in self._readers:
            r.start()

    @staticmethod
    def _drain(stream, buffer):
        for chunk in iter(lambda: stream.read1(65536), b""):
            buffer.extend(chunk)

    @property
    def out(self):
        return self._out.decode(errors="replace")

    @property
    def err(self):
        return self._err.decode(errors="replace")

    def wait(self, timeout=DEADLINE):
        code = self.proc.wait(timeout)
        for r in self._readers:
            r.join(timeout)
        return code

    def running(self):
        return self.proc.poll() is None

    def describe(self):
        return f"\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}\n--- end ---"

    def close(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for r in self._readers:
            r.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def build_wheel(directory, name, version="1.0"):
    """A pure-python wheel for `name`, made by hand (no setuptools, no network)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": ("Wheel-Version: 1.0\nGenerator: podvisor-tests\n"
                          "Root-Is-Purelib: true\nTag: py3-none-any\n"),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record.append(f"{path},sha256={digest.decode().rstrip('=')},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    os.makedirs(directory, exist_ok=True)
    wheel = os.path.join(directory, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def supervisord_python():
    """The python that runs Debian's supervisord (its `supervisor` package), or None."""
    exe = shutil.which("supervisord")
    if not exe:
        return None
    with open(exe, "rb") as f:
        first = f.readline().decode(errors="replace").strip()
    return first[2:].split()[0] if first.startswith("#!") else None


# Reads a file with supervisord's own option parser and prints what it made of [program:app].
SUPERVISORD_READS = r"""
import json, shlex, sys
from supervisor.options import ServerOptions
o = ServerOptions()
o.realize(args=["-c", sys.argv[1]])
p = [p for g in o.process_group_configs for p in g.process_configs if p.name == "app"][0]
print(json.dumps({"argv": shlex.split(p.command), "exitcodes": p.exitcodes,
                  "startsecs": p.startsecs, "startretries": p.startretries,
                  "autorestart": str(p.autorestart), "stopasgroup": p.stopasgroup,
                  "killasgroup": p.killasgroup, "stopwaitsecs": p.stopwaitsecs,
                  "sockets": [s.get("file") for s in o.server_configs]}))
"""


class Base(unittest.TestCase):
    """standard-supervisor as a symlink to podvisor, a directory and a clean environment."""

    @classmethod
    def setUpClass(cls):
        if not PODVISOR or not os.access(PODVISOR, os.X_OK):
            raise unittest.SkipTest("set PODVISOR_BINARY to the built podvisor")
        cls.bin = tempfile.mkdtemp(prefix="pv-mhcs-bin-")
        cls.exe = os.path.join(cls.bin, "standard-supervisor")
        os.symlink(os.path.abspath(PODVISOR), cls.exe)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.bin, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pv-mhcs-")
        self.config = os.path.join(self.dir, "supervisord.conf")
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            r.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PROCESS_", "SUPERVISOR_", "STANDARD_", "SAGEMAKER_", "PIP_"))
               and k != "LOG_LEVEL"}
        env["SUPERVISOR_CONFIG_PATH"] = self.config
        env["SUPERVISOR_UNIX_HTTP_SERVER_FILE"] = os.path.join(self.dir, "pv.sock")
        env["SAGEMAKER_MODEL_PATH"] = os.path.join(self.dir, "no-model")
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def start(self, args, **extra):
        r = Run(self.exe, args, self.env(**extra), self.dir)
        self.runs.append(r)
        return r

    def read_config(self):
        self.assertTrue(wait_for(lambda: os.path.exists(self.config)), "no " + self.config)
        parser = configparser.ConfigParser()
        parser.read(self.config)
        return parser

    def app(self, code):
        return [sys.executable, "-c", code]

    def assert_keys(self, section, **expected):
        self.assertEqual({k: section.get(k) for k in expected}, expected)


class StandardSupervisorTest(Base):

    # ---- MHCS's test_supervisor_cli_integration.py, scenario by scenario ----

    def test_basic_cli_execution_and_config_generation(self):
        r = self.start(self.app("import time; print('started', flush=True); time.sleep(60)"),
                       PROCESS_AUTO_RECOVERY="true", PROCESS_MAX_START_RETRIES="2",
                       SUPERVISOR_PROGRAM__APP_STARTSECS="2",
                       SUPERVISOR_PROGRAM__APP_STOPWAITSECS="5",
                       SUPERVISOR_PROGRAM__APP_AUTORESTART="true", LOG_LEVEL="info")
        self.assertTrue(wait_for(lambda: "started" in r.out), r.describe())
        c = self.read_config()
        self.assertIn("supervisord", c.sections())
        self.assertIn("program:app", c.sections())
        app = c["program:app"]
        self.assertIn("python", app["command"])
        self.assert_keys(app, startsecs="2", stopwaitsecs="5", startretries="2",
                         autostart="true", autorestart="true", stdout_logfile="/dev/stdout",
                         stderr_logfile="/dev/stderr", exitcodes="255")

    def test_ml_framework_configuration(self):
        r = self.start(self.app("import time; time.sleep(60)"),
                       SUPERVISOR_PROGRAM__APP_STARTSECS="30",
                       SUPERVISOR_PROGRAM__APP_STOPWAITSECS="60",
                       SUPERVISOR_PROGRAM__APP_STARTRETRIES="3",
                       SUPERVISOR_PROGRAM__APP_AUTORESTART="true")
        self.assert_keys(self.read_config()["program:app"], startsecs="30", stopwaitsecs="60",
                         startretries="3", autorestart="true", stopasgroup="true",
                         killasgroup="true", stopsignal="TERM")
        self.assertTrue(r.running(), r.describe())

    def test_signal_handling(self):
        pidfile = os.path.join(self.dir, "app.pid")
        r = self.start(self.app(f"import os, time; open({pidfile!r}, 'w').write(str(os.getpid()))"
                                "; time.sleep(60)"),
                       PROCESS_MAX_START_RETRIES="1", SUPERVISOR_PROGRAM__APP_STARTSECS="1",
                       SUPERVISOR_PROGRAM__APP_STOPWAITSECS="5")
        self.assertTrue(wait_for(lambda: read(pidfile)), r.describe())
        self.assertTrue(os.path.exists(self.config))
        app_pid = int(read(pidfile))
        r.proc.send_signal(signal.SIGTERM)
        code = r.wait()
        # podvisor passes the app's status on (killed by SIGTERM: 143); MHCS exits 0.
        self.assertEqual(code, 143, r.describe())
        self.assertFalse(os.path.exists(f"/proc/{app_pid}"), "the app outlived standard-supervisor")

    def test_continuous_restart_behavior(self):
        starts = os.path.join(self.dir, "starts.log")
        r = self.start(self.app(f"import sys, time; open({starts!r}, 'a').write('start\\n')"
                                "; time.sleep(1.5); sys.exit(0)"),
                       SUPERVISOR_PROGRAM__APP_STARTSECS="1",
                       SUPERVISOR_PROGRAM__APP_AUTORESTART="true",
                       SUPERVISOR_PROGRAM__APP_STARTRETRIES="10")
        count = lambda: read(starts).count("start")
        self.assertTrue(wait_for(lambda: count() >= 2), r.describe())
        self.assertIn("exited: app (exit status 0; not expected)", r.err)
        self.assertEqual(self.read_config()["program:app"]["autorestart"], "true")

    def test_exit_0_is_restarted_even_with_autorestart_unexpected(self):
        starts = os.path.join(self.dir, "starts.log")
        r = self.start(self.app(f"open({starts!r}, 'a').write('start\\n')"),
                       SUPERVISOR_PROGRAM__APP_STARTSECS="0",
                       SUPERVISOR_PROGRAM__APP_AUTORESTART="unexpected")
        count = lambda: read(starts).count("start")
        self.assertTrue(wait_for(lambda: count() >= 2), r.describe())

    def test_startup_retry_limit(self):
        attempts = os.path.join(self.dir, "attempts.log")
        r = self.start(self.app(f"import sys; open({attempts!r}, 'a').write('try\\n'); sys.exit(1)"),
                       SUPERVISOR_PROGRAM__APP_STARTSECS="5",
                       SUPERVISOR_PROGRAM__APP_STARTRETRIES="3",
                       SUPERVISOR_PROGRAM__APP_AUTORESTART="true")
        # MHCS promises "exits 1 after max retries" (its supervisord never exits): podvisor does.
        self.assertEqual(r.wait(60), 1, r.describe())
        self.assertEqual(read(attempts).count("try"), 4, r.describe())
        self.assertIn("gave up: app entered FATAL state", r.err)
        app = configparser.ConfigParser()
        app.read(self.config)
        self.assertEqual(app["program:app"]["startretries"], "3")
        self.assertEqual(app["program:app"]["startsecs"], "5")

    def test_configuration_validation_error(self):
        r = self.start(["echo", "test"], PROCESS_MAX_START_RETRIES="invalid_number")
        self.assertEqual(r.wait(), 1, r.describe())
        self.assertIn("PROCESS_MAX_START_RETRIES", r.err)
        self.assertFalse(os.path.exists(self.config))

    def test_direct_launch(self):
        for value in ("false", "0", ""):
            with self.subTest(PROCESS_AUTO_RECOVERY=value):
                r = self.start(self.app("print('direct ok')"), PROCESS_AUTO_RECOVERY=value)
                self.assertEqual(r.wait(), 0, r.describe())
                self.assertIn("direct ok", r.out)
                self.assertFalse(os.path.exists(self.config), "direct launch writes no config")

    def test_direct_launch_exit_code_propagation(self):
        for code in (0, 42):
            r = self.start(self.app(f"import sys; sys.exit({code})"), PROCESS_AUTO_RECOVERY="false")
            self.assertEqual(r.wait(), code, r.describe())

    def test_direct_launch_command_not_found(self):
        r = self.start(["nonexistent_command_12345", "arg1"], PROCESS_AUTO_RECOVERY="false")
        self.assertEqual(r.wait(), 127, r.describe())
        self.assertIn("No such file", r.err)

    def test_no_command_provided(self):
        for value in ("true", "false"):
            r = self.start([], PROCESS_AUTO_RECOVERY=value)
            self.assertEqual(r.wait(), 1, r.describe())
            self.assertIn("No launch command provided", r.err)
            self.assertIn("Usage: standard-supervisor <launch_command> [args...]", r.err)

    def test_process_auto_recovery_values(self):
        # MHCS's launcher supervises only for true/1; podvisor also for yes/on (a documented
        # difference: MHCS's own config parser takes them as true). Supervised, the config
        # is written and the one run allowed ends in FATAL (1); unsupervised, no config and
        # the command's own status (0).
        for value, supervised in (("true", True), ("True", True), ("TRUE", True), ("1", True),
                                  ("yes", True), ("false", False), ("0", False), ("", False)):
            with self.subTest(PROCESS_AUTO_RECOVERY=value):
                r = self.start(["true"], PROCESS_AUTO_RECOVERY=value,
                               SUPERVISOR_PROGRAM__APP_STARTRETRIES="0")
                self.assertEqual(r.wait(), 1 if supervised else 0, r.describe())
                self.assertEqual(os.path.exists(self.config), supervised, r.describe())
                self.assertEqual(r.err.count("spawned: 'app'"), 1, r.describe())
                if supervised:
                    os.unlink(self.config)

    # ---- the generated config, read by supervisord's own parser and by supervisorctl ----

    def test_generated_config_is_read_by_supervisord_as_podvisor_runs_it(self):
        python = supervisord_python()
        if not python:
            self.skipTest("Debian's supervisor package is not installed")
        argv = [sys.executable, "-c", "import sys, time; print(sys.argv[1:], flush=True); "
                "time.sleep(60)", "--speculative-config",
                '{"model": "x/y", "num_speculative_tokens": 3}', "100%", "it's",
                "a ;b #c", "#x"]
        r = self.start(argv, SUPERVISOR_PROGRAM__APP_STARTSECS="0")
        self.assertTrue(wait_for(lambda: "num_speculative_tokens" in r.out), r.describe())
        self.read_config()
        check = subprocess.run([python, "-c", SUPERVISORD_READS, self.config],
                               capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(check.returncode, 0, check.stderr)
        seen = json.loads(check.stdout)
        self.assertEqual(seen["argv"], argv)
        self.assertEqual(seen["exitcodes"], [255])
        self.assertEqual(seen["startsecs"], 0)
        self.assertTrue(seen["stopasgroup"] and seen["killasgroup"])
        self.assertEqual(seen["sockets"], [os.path.join(self.dir, "pv.sock")])
        # Python's configparser (MHCS's tests) reads the same argv back.
        self.assertEqual(shlex.split(self.read_config()["program:app"]["command"]), argv)

    def test_supervisorctl_reaches_podvisor_through_the_generated_config(self):
        if not shutil.which("supervisorctl"):
            self.skipTest("Debian's supervisorctl is not installed")
        r = self.start(["sleep", "60"], SUPERVISOR_PROGRAM__APP_STARTSECS="0")
        self.read_config()
        status = lambda: subprocess.run(["supervisorctl", "-c", self.config, "status"],
                                        capture_output=True, text=True, timeout=DEADLINE)
        self.assertTrue(wait_for(lambda: "RUNNING" in status().stdout), r.describe())
        self.assertRegex(status().stdout, r"^app\s+RUNNING\s+pid \d+")

    def test_default_config_is_removed_at_exit(self):
        default = "/tmp/supervisord.conf"
        if os.path.exists(default):
            self.skipTest(f"{default} exists already (another supervisor's): not touched")
        sock = os.path.join(self.dir, "pv.sock")
        r = self.start(["sleep", "60"], SUPERVISOR_CONFIG_PATH=None)
        self.assertTrue(wait_for(lambda: os.path.exists(default)), r.describe())
        self.assertIn(sock, read(default))
        r.proc.send_signal(signal.SIGTERM)
        r.wait()
        self.assertFalse(os.path.exists(default))

    def test_a_chosen_config_path_is_kept(self):
        nested = os.path.join(self.dir, "etc", "sv", "supervisord.conf")
        r = self.start(["sleep", "60"], SUPERVISOR_CONFIG_PATH=nested)
        self.assertTrue(wait_for(lambda: os.path.exists(nested)), r.describe())
        r.proc.send_signal(signal.SIGTERM)
        r.wait()
        self.assertTrue(os.path.exists(nested))

    def test_supervisord_logfile(self):
        log = os.path.join(self.dir, "main.log")
        r = self.start(["sleep", "60"], SUPERVISOR_SUPERVISORD_LOGFILE=log)
        self.assertTrue(wait_for(lambda: "spawned: 'app'" in read(log)), r.describe())
        self.assertEqual(self.read_config()["supervisord"]["logfile"], log)


class DependencyInstallTest(Base):
    """MHCS's test_dependency_install_integration.py: a venv per class, a wheel per test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.venv = tempfile.mkdtemp(prefix="pv-mhcs-venv-")
        made = subprocess.run([sys.executable, "-m", "venv", cls.venv], capture_output=True,
                              text=True, timeout=120)
        cls.python = os.path.join(cls.venv, "bin", "python")
        if made.returncode != 0 or subprocess.run(
                [cls.python, "-m", "pip", "--version"], capture_output=True).returncode != 0:
            shutil.rmtree(cls.venv, ignore_errors=True)
            raise unittest.SkipTest(f"no venv with pip (Debian: python3-venv): {made.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.venv, ignore_errors=True)
        super().tearDownClass()

    def model(self, requirements, wheels=()):
        model = os.path.join(self.dir, "model")
        os.makedirs(model, exist_ok=True)
        with open(os.path.join(model, "requirements.txt"), "w") as f:
            f.write(requirements)
        for name in wheels:
            build_wheel(os.path.join(model, "requirements"), name)
        return model

    def importer(self, name, marker=None):
        code = f"import {name}; print('{name}', {name}.VERSION, flush=True)"
        if marker:
            code = f"open({marker!r}, 'w').close(); " + code
        return [self.python, "-c", code]

    def offline(self, model, **extra):
        # --find-links does not imply --no-index: without PIP_NO_INDEX pip would ask PyPI.
        return dict(SAGEMAKER_MODEL_PATH=model, PIP_NO_INDEX="1",
                    PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)

    def test_installs_from_requirements_with_find_links(self):
        model = self.model("pvtest_direct==1.0\n", ["pvtest_direct"])
        r = self.start(self.importer("pvtest_direct"),
                       **self.offline(model, PROCESS_AUTO_RECOVERY="false"))
        self.assertEqual(r.wait(120), 0, r.describe())
        self.assertIn("pvtest_direct 1.0", r.out)
        # The installer's own output is passed through, and podvisor says what it ran.
        self.assertIn("Successfully installed", r.out)
        self.assertIn("--find-links " + os.path.join(model, "requirements"), r.err)
        self.assertIn(self.python + " -m pip install -r", r.err)

    def test_installs_before_a_supervised_launch(self):
        model = self.model("pvtest_supervised==1.0\n", ["pvtest_supervised"])
        r = self.start([self.python, "-c", "import pvtest_supervised as p, time; "
                        "print('pvtest_supervised', p.VERSION, flush=True); time.sleep(60)"],
                       **self.offline(model))
        self.assertTrue(wait_for(lambda: "pvtest_supervised 1.0" in r.out, 120), r.describe())
        self.assertIn("Dependency installation completed successfully", r.err)

    def test_failing_requirement_stops_the_start(self):
        marker = os.path.join(self.dir, "app-ran")
        model = self.model("pvtest_missing==9.9\n", ["pvtest_other"])
        for recovery in ("true", "false"):
            with self.subTest(PROCESS_AUTO_RECOVERY=recovery):
                r = self.start(self.importer("pvtest_missing", marker),
                               **self.offline(model, PROCESS_AUTO_RECOVERY=recovery))
                self.assertEqual(r.wait(120), 1, r.describe())
                self.assertFalse(os.path.exists(marker), "the app ran")
                self.assertIn("Dependency installation failed", r.err)
                self.assertIn("pvtest_missing", r.err)  # pip's own error, passed through
                self.assertNotIn("spawned:", r.err)
                self.assertFalse(os.path.exists(self.config))

    def test_no_requirements_file_is_a_noop(self):
        model = os.path.join(self.dir, "empty-model")
        os.makedirs(model)
        r = self.start([self.python, "-c", "print('ran')"],
                       **self.offline(model, PROCESS_AUTO_RECOVERY="false"))
        self.assertEqual(r.wait(), 0, r.describe())
        self.assertIn("ran", r.out)
        self.assertNotIn("pip install", r.err)

    def test_disabled_skips_install(self):
        model = self.model("pvtest_missing==9.9\n")
        for value in ("false", "0", "no", "off"):
            r = self.start([self.python, "-c", "print('ran')"],
                           **self.offline(model, PROCESS_AUTO_RECOVERY="false",
                                          STANDARD_AUTO_INSTALL_REQ=value))
            self.assertEqual(r.wait(), 0, r.describe())
            self.assertIn("ran", r.out)

    def test_explicit_args_replace_discovery(self):
        model = self.model("pvtest_missing==9.9\n")
        links = os.path.join(self.dir, "wheels")
        build_wheel(links, "pvtest_explicit")
        good = os.path.join(self.dir, "good.txt")
        with open(good, "w") as f:
            f.write("pvtest_explicit==1.0\n")
        r = self.start(self.importer("pvtest_explicit"),
                       **self.offline(model, PROCESS_AUTO_RECOVERY="false",
                                      STANDARD_PIP_ARGS=f"-r '{good}' --find-links {links}"))
        self.assertEqual(r.wait(120), 0, r.describe())
        self.assertIn("pvtest_explicit 1.0", r.out)

    def test_malformed_pip_args_fail(self):
        marker = os.path.join(self.dir, "app-ran")
        r = self.start(self.importer("json", marker),
                       **self.offline(self.dir, PROCESS_AUTO_RECOVERY="false",
                                      STANDARD_PIP_ARGS='--index-url "https://unclosed-quote'))
        self.assertEqual(r.wait(), 1, r.describe())
        self.assertIn("Invalid STANDARD_PIP_ARGS", r.err)
        self.assertFalse(os.path.exists(marker))


if __name__ == "__main__":
    unittest.main()
