"""N `streamlit run explorer_app.py` replicas on loopback ports, nginx in front, on one host.

    python deploy/run_replicas.py --replicas 2 --port 8080        # prints the URL; Ctrl-C stops all
    python deploy/run_replicas.py --replicas 2 --pin              # replica i on CPU i
    python deploy/run_replicas.py --replicas 3 --print-config     # the nginx.conf it would run

Every replica gets the same models directory ($VAE_MODELS_DIR, or --models-dir): a model trained
through one replica is listed by all of them on their next rerun. Two replicas cannot spoil it:
a training refuses a tag that exists, and a save never replaces a folder (the one that loses a
race for a tag fails with a message). Each replica runs at most two trainings at once, so N
replicas may run 2·N. nginx pins each browser to the replica that holds its session by a
cookie, and moves it to a live replica when its own dies (see nginx.conf.template).

Each process runs in its own process group; Ctrl-C or SIGTERM stops nginx, then the replicas,
and waits for them (SIGKILL after 15 s). nginx runs as an ordinary process with its files in the
state directory (default: a temporary one, removed at exit; --state-dir keeps the logs).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "explorer_app.py"
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")  # Debian installs it outside a normal user's PATH


class DeployError(RuntimeError):
    """Something the operator must fix (nginx missing, a port taken, a replica that will not start)."""


def find_nginx() -> str:
    for name in NGINX_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise DeployError("nginx not found (Debian: apt-get install -y nginx); it is run as an ordinary "
                      "process, so its system service may stay disabled")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def check_port_free(host: str, port: int, option: str) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise DeployError(f"{host}:{port} cannot be used ({exc.strerror}); choose another {option}") from None


_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send loopback via $http_proxy


def healthy(url: str) -> bool:
    try:
        with _no_proxy.open(url, timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except (OSError, urllib.error.URLError):
        return False


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process started with start_new_session, and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass


@dataclass
class Replica:
    name: str  # r1, r2, …: the value of nginx's cookie, and $VAE_REPLICA in the process
    port: int
    log: Path
    cpus: tuple[int, ...] | None = None
    # torch threads when not pinned: the host's cores shared out, so that trainings in several
    # replicas do not each spin a thread per core on the same cores.
    threads: int = 1
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict, app: Path = APP) -> None:
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port),
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        env = {**env, "VAE_REPLICA": self.name}
        if self.cpus is not None:
            # taskset execs the server (same pid): every thread it makes stays on these CPUs, and
            # torch sizes its thread pool to them instead of spinning threads on a shared core.
            cmd = ["taskset", "-c", ",".join(map(str, self.cpus))] + cmd
            env["OMP_NUM_THREADS"] = str(len(self.cpus))
        else:
            env.setdefault("OMP_NUM_THREADS", str(self.threads))
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Deployment:
    """The replicas and nginx; use as a context manager, or call start() and stop()."""

    def __init__(self, *, replicas: int = 2, port: int | None = None, listen_host: str = "127.0.0.1",
                 models_dir: Path | None = None, data_dir: str | None = None, state_dir: Path | None = None,
                 replica_port: int | None = None, cpus: list[tuple[int, ...]] | None = None,
                 startup_timeout: float = 90, app: Path = APP):
        if replicas < 1:
            raise DeployError(f"--replicas must be at least 1; got {replicas}")
        self._own_state = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="vae-deploy-")).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.listen_host = listen_host
        self.port = port or free_port(listen_host)
        self.models_dir, self.data_dir = models_dir, data_dir
        self.startup_timeout = startup_timeout
        self.app = app
        ports = [replica_port + i for i in range(replicas)] if replica_port else _free_ports(replicas)
        threads = max(1, (os.cpu_count() or 1) // replicas)
        self.replicas = [Replica(f"r{i + 1}", ports[i], self.state_dir / f"r{i + 1}.log",
                                 tuple(cpus[i]) if cpus else None, threads) for i in range(replicas)]
        self.nginx: subprocess.Popen | None = None
        self._env: dict = {}

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.listen_host in ("0.0.0.0", "") else self.listen_host
        return f"http://{host}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.state_dir / "access.log"

    def config(self) -> str:
        """nginx.conf for these replicas (the template with its @...@ fields filled in)."""
        def server(r: Replica, extra: str = "") -> str:
            return f"        server 127.0.0.1:{r.port}{extra};"

        # max_fails=0: nginx never marks a replica unavailable. A dead one refuses at once, so trying it
        # first costs nothing, and a restarted one takes its browsers back at once. (Marked down for a
        # fail_timeout, a pinned group went to its backups only; when a backup had just died too, a page
        # asset got a 502 and the page kept a broken view until reloaded.)
        upstreams = ["    upstream vae_any {", "        least_conn;"]
        upstreams += [server(r, " max_fails=0") for r in self.replicas] + ["    }"]
        for r in self.replicas:
            upstreams += [f"    upstream vae_{r.name} {{", server(r, " max_fails=0")]
            upstreams += [server(o, " max_fails=0 backup") for o in self.replicas if o is not r] + ["    }"]
        fields = {
            "@PREFIX@": str(self.state_dir),
            "@LISTEN@": f"{self.listen_host}:{self.port}",
            "@GROUP_MAP@": "\n".join(f"        {r.name} vae_{r.name};" for r in self.replicas),
            "@SERVED_BY_MAP@": "\n".join(f'        "~:{r.port}$" {r.name};' for r in self.replicas),
            "@UPSTREAMS@": "\n".join(upstreams),
        }
        text = TEMPLATE.read_text()
        for key, value in fields.items():
            text = text.replace(key, value)
        return text

    def start(self) -> "Deployment":
        nginx = find_nginx()
        if any(r.cpus for r in self.replicas) and not shutil.which("taskset"):
            raise DeployError("pinning replicas to CPUs needs taskset (Debian: apt-get install -y util-linux)")
        check_port_free(self.listen_host, self.port, "--port")
        for r in self.replicas:
            check_port_free("127.0.0.1", r.port, "--replica-port")
        env = self._env = dict(os.environ)
        if self.models_dir is not None:
            env["VAE_MODELS_DIR"] = str(self.models_dir)
        if self.data_dir is not None:
            env["VAE_DATA_DIR"] = str(self.data_dir)
        # One secret for all: a cookie Streamlit signs (st.login) is then valid on every replica.
        env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
        try:
            for r in self.replicas:  # all start at once; each takes a few seconds to import
                r.start(env, self.app)
            for r in self.replicas:
                self._wait(f"replica {r.name}", f"{r.url}/_stcore/health", r.proc, r.log)
            conf = self.state_dir / "nginx.conf"
            conf.write_text(self.config())
            (self.state_dir / "tmp").mkdir(exist_ok=True)
            cmd = [nginx, "-p", str(self.state_dir), "-c", str(conf)]
            test = subprocess.run(cmd + ["-t", "-q"], capture_output=True, text=True)
            if test.returncode != 0:
                raise DeployError(f"nginx refused {conf}:\n{test.stderr.strip()}")
            nginx_log = self.state_dir / "nginx.stderr"
            with open(nginx_log, "ab") as logf:
                self.nginx = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                              start_new_session=True)
            self._wait("nginx", f"{self.url}/_stcore/health", self.nginx, self.state_dir / "error.log", nginx_log)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, what: str, url: str, proc: subprocess.Popen, *logs: Path) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DeployError(f"{what} exited with code {proc.returncode}:\n{_tail(*logs)}")
            if healthy(url):
                return
            time.sleep(0.25)
        raise DeployError(f"{what} not healthy at {url} after {self.startup_timeout:.0f} s:\n{_tail(*logs)}")

    def kill(self, index: int) -> None:
        """SIGKILL one replica (and its group), as a crash would; nginx sends its sessions on."""
        stop_group(self.replicas[index].proc, signal.SIGKILL)

    def restart(self, index: int) -> None:
        """Start a stopped (or crashed) replica again on its port; new sessions reach it at once."""
        r = self.replicas[index]
        stop_group(r.proc)
        r.start(self._env, self.app)
        self._wait(f"replica {r.name}", f"{r.url}/_stcore/health", r.proc, r.log)

    def stop(self) -> None:
        """nginx first (no new requests reach a stopping replica), then the replicas, together."""
        if self.nginx is not None:
            stop_group(self.nginx)  # SIGTERM: nginx's fast shutdown
        for r in self.replicas:
            if r.alive():
                os.killpg(r.proc.pid, signal.SIGTERM)  # Streamlit stops in about a second
        for r in self.replicas:
            if r.proc is not None:
                stop_group(r.proc)
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(*logs: Path, lines: int = 30) -> str:
    out = []
    for log in logs:
        if log.exists():
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(out) or "(no log written)"


def supervise(dep: Deployment) -> int:
    """Block until a signal or until nginx (or every replica) dies; report each death."""
    replicas = {r.proc.pid: r for r in dep.replicas}
    while True:
        # WNOWAIT: learn which child ended without reaping it, so its Popen still sees the code.
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        if info.si_pid == dep.nginx.pid:
            dep.nginx.wait()
            print(f"nginx exited (code {dep.nginx.returncode}):\n{_tail(dep.state_dir / 'error.log')}",
                  file=sys.stderr)
            return 1
        r = replicas.pop(info.si_pid, None)
        if r is None:
            os.waitpid(info.si_pid, 0)  # not one we report on
            continue
        r.proc.wait()
        print(f"replica {r.name} (port {r.port}) exited with code {r.proc.returncode}; nginx sends its sessions "
              f"to the others. Its log: {r.log}", file=sys.stderr)
        if not any(x.alive() for x in dep.replicas):
            print("no replica left", file=sys.stderr)
            return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2, help="how many streamlit processes (default 2)")
    ap.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="nginx's address (default 127.0.0.1; 0.0.0.0 for every interface)")
    ap.add_argument("--models-dir", type=Path, help="the models directory all replicas share "
                                                     "(default: $VAE_MODELS_DIR, else the user models directory)")
    ap.add_argument("--data-dir", help="the datasets (default: $VAE_DATA_DIR, else the user cache)")
    ap.add_argument("--replica-port", type=int, help="the first replica's port, the others the next ones "
                                                      "(default: free ports)")
    ap.add_argument("--pin", action="store_true", help="run replica i on CPU i (modulo the CPU count)")
    ap.add_argument("--state-dir", type=Path, help="nginx's prefix and every log; kept after exit")
    ap.add_argument("--print-config", action="store_true", help="print the nginx.conf and exit")
    args = ap.parse_args(argv)
    try:
        dep = Deployment(replicas=args.replicas, port=args.port, listen_host=args.host, models_dir=args.models_dir,
                         data_dir=args.data_dir, state_dir=args.state_dir, replica_port=args.replica_port,
                         cpus=[(i % os.cpu_count(),) for i in range(args.replicas)] if args.pin else None)
        if args.print_config:
            print(dep.config())
            dep.stop()
            return 0

        def on_stop(signum, frame):
            raise KeyboardInterrupt  # leave the wait below, then stop everything in order

        # SIGINT too: a shell without job control starts background commands with it ignored.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_stop)
        try:
            dep.start()
            ports = ", ".join(f"{r.name} :{r.port}" for r in dep.replicas)
            kept = "" if args.state_dir else ", removed at exit"
            print(f"{dep.url}  ({len(dep.replicas)} replicas: {ports}; logs in {dep.state_dir}{kept}); "
                  "Ctrl-C stops", flush=True)
            return supervise(dep)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
            return 0
        finally:
            dep.stop()
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
