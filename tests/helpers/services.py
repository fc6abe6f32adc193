"""Throw-away services the tracking tests start as a team runs them: an
``mlflow server`` and a PostgreSQL cluster. Every process and directory is
removed again, also when a test fails."""
import glob
import os
import os.path as osp
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Optional


def mlflow_artifacts(client, run_id, path=None) -> list:
    """Every artifact path of an MLflow run, folders walked."""
    out = []
    for a in client.list_artifacts(run_id, path):
        out += (
            mlflow_artifacts(client, run_id, a.path) if a.is_dir else [a.path])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for_http(url: str,
                  what: str,
                  timeout: float = 120,
                  proc=None) -> None:
    """Poll ``url`` until it answers; raise naming ``what`` if it does not
    (or ``proc`` exits first)."""
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f'{what} exited with {proc.returncode}')
            if time.time() > deadline:
                raise RuntimeError(f'{what} did not answer at {url}')
            time.sleep(0.5)


def stop_group(proc) -> None:
    """Kill a process started with ``start_new_session=True`` and its
    children."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with ``backend`` as its store and a
    local artifacts destination; with ``auth_config`` (a basic-auth INI
    file), MLflow's basic-auth app, as docs/tracking.md runs it."""

    def __init__(self,
                 backend: str,
                 artifacts: str,
                 log: str,
                 auth_config: Optional[str] = None) -> None:
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        mlflow_bin = osp.join(osp.dirname(sys.executable), 'mlflow')
        self._log = open(log, 'w')
        args, env = [], dict(os.environ)
        if auth_config is not None:
            args = ['--app-name', 'basic-auth']
            env.update(
                MLFLOW_AUTH_CONFIG_PATH=auth_config,
                MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16))
        self.proc = subprocess.Popen([
            mlflow_bin, 'server', '--host', '127.0.0.1', '--port',
            str(self.port), '--backend-store-uri', backend,
            '--artifacts-destination', artifacts, '--workers', '1', *args
        ],
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     env=env,
                                     start_new_session=True)
        try:
            wait_for_http(
                self.url + '/health', 'mlflow server', proc=self.proc)
        except RuntimeError as e:
            self.close()
            with open(log) as f:
                tail = ''.join(f.readlines()[-15:])
            raise RuntimeError(f'{e}; its log ends:\n{tail}') from None

    def close(self) -> None:
        stop_group(self.proc)
        self._log.close()


def postgres_bin_dir() -> str:
    """The newest Debian PostgreSQL server binaries (``initdb``,
    ``pg_ctl``); a clear error when they are not installed."""
    found = sorted(
        glob.glob('/usr/lib/postgresql/*/bin/initdb'),
        key=lambda p: int(p.split('/')[-3]))
    if not found:
        path = shutil.which('initdb')
        if path is None:
            raise RuntimeError(
                'PostgreSQL server binaries not found (initdb): install '
                "Debian's postgresql package "
                '(tools/setup_test_services.sh does)')
        return osp.dirname(path)
    return osp.dirname(found[-1])


class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, listening on a
    loopback port, with database ``mlflow``: trust authentication (it is
    reachable from this machine only), or user ``mlflow`` with
    ``password`` (SCRAM) when one is given. PostgreSQL refuses to run as
    root: as root, its commands run as the ``postgres`` system user."""

    def __init__(self, password: Optional[str] = None) -> None:
        self.bin = postgres_bin_dir()
        self.version = subprocess.run(
            [osp.join(self.bin, 'postgres'), '--version'],
            capture_output=True,
            text=True,
            check=True).stdout.strip()
        self.root = tempfile.mkdtemp(prefix='field_detr_pg_')
        os.chmod(self.root, 0o777)
        self.data = osp.join(self.root, 'data')
        self.log = osp.join(self.root, 'server.log')
        self.port = free_port()
        user = 'mlflow' if password is None else f'mlflow:{password}'
        self.uri = f'postgresql://{user}@127.0.0.1:{self.port}/mlflow'
        self._as = (['runuser', '-u', 'postgres', '--']
                    if os.geteuid() == 0 else [])
        self._env = dict(os.environ)
        auth = ['--auth=trust']
        if password is not None:
            pwfile = osp.join(self.root, 'password')
            with open(pwfile, 'w') as f:
                f.write(password + '\n')
            os.chmod(pwfile, 0o644)
            auth = ['--auth=scram-sha-256', f'--pwfile={pwfile}']
            self._env['PGPASSWORD'] = password
        try:
            self._run('initdb', '-D', self.data, '-U', 'mlflow', *auth, '-E',
                      'UTF8')
            self.start()
            self._run('createdb', '-h', '127.0.0.1', '-p', str(self.port),
                      '-U', 'mlflow', 'mlflow')
        except BaseException:
            self.close()
            raise

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, osp.join(self.bin, tool), *args],
                       check=True,
                       capture_output=True,
                       cwd=self.root,
                       env=self._env)

    def start(self) -> None:
        self._run(
            'pg_ctl', '-D', self.data, '-l', self.log, '-w', '-o',
            f'-p {self.port} -k {self.root} '
            '-c listen_addresses=127.0.0.1', 'start')

    def stop(self) -> None:
        self._run('pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop')

    def close(self) -> None:
        if osp.exists(osp.join(self.data, 'postmaster.pid')):
            subprocess.run([
                *self._as,
                osp.join(self.bin, 'pg_ctl'), '-D', self.data, '-m',
                'immediate', '-w', 'stop'
            ],
                           capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
