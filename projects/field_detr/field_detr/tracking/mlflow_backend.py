"""MLflow tracking that never stops training."""
import contextlib
import fcntl
import os
import os.path as osp
import time
from typing import Optional

from mmdet.registry import VISBACKENDS
from mmengine.logging import MMLogger
from mmengine.visualization import MLflowVisBackend
from mmengine.visualization.vis_backend import force_init_env

from ..errors import ConfigError
from ..messages import tell_user
from ..redaction import redact, reveal
from .metric_names import rename_scalars
from .run_params import as_mlflow_params, config_params, environment_params

#: The embedded store, relative to the directory training starts in.
DEFAULT_STORE_DIR = 'mlruns'
DEFAULT_EXPERIMENT = 'detr_training'

#: MLflow's experiment-kind tag, and the kind of a training experiment.
EXPERIMENT_KIND_TAG = 'mlflow.experimentKind'
EXPERIMENT_KIND = 'custom_model_development'


def default_tracking_uri(store_dir: str = DEFAULT_STORE_DIR) -> str:
    return f'sqlite:///{osp.abspath(osp.join(store_dir, "mlflow.db"))}'


def resolve_tracking_uri(configured: Optional[str]) -> str:
    """``MLFLOW_TRACKING_URI``, else the config's (its password, which the
    config shows redacted, restored), else the embedded SQLite store
    ``./mlruns/mlflow.db``."""
    return (os.environ.get('MLFLOW_TRACKING_URI') or reveal(configured)
            or default_tracking_uri())


def local_artifact_root(uri: str) -> Optional[str]:
    """Artifacts beside a local SQLite store: ``<db dir>/artifacts``."""
    if uri.startswith('sqlite:///'):
        return 'file://' + osp.join(
            osp.dirname(osp.abspath(uri[len('sqlite:///'):])), 'artifacts')
    return None


#: MLflow's error codes for a request the server's authentication refused
AUTH_ERRORS = {
    'UNAUTHENTICATED': 'the credentials (401: no or a wrong user/password)',
    'PERMISSION_DENIED': 'this user (403: no permission)',
}

#: retries of a call that met a SQLite store locked by another writer
LOCKED_RETRIES = 4


@contextlib.contextmanager
def store_lock(uri: str):
    """An exclusive lock on ``<db>.lock`` beside a SQLite store (creating
    its folder) for as long as the block runs; nothing for other stores."""
    if not uri.startswith('sqlite:///'):
        yield
        return
    db = uri[len('sqlite:///'):]
    os.makedirs(osp.dirname(osp.abspath(db)), exist_ok=True)
    with open(db + '.lock', 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@VISBACKENDS.register_module()
class FieldMLflowVisBackend(MLflowVisBackend):
    """MMEngine's ``MLflowVisBackend`` made safe and useful for this project.

    * Tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``tracking_uri``,
      else an embedded SQLite store ``./mlruns/mlflow.db`` with artifacts in
      ``./mlruns/artifacts`` (MLflow >= 3.14 refuses the old ``./mlruns``
      file store). Experiment: ``MLFLOW_EXPERIMENT_NAME``, else
      ``exp_name`` (default ``detr_training``). Run name: the work dir's.
    * Params: a few dozen that matter (see
      :mod:`~field_detr.tracking.run_params`), not the whole config;
      the config itself is logged as ``config.py``.
    * Metrics are renamed for notebooks (``train_loss``, ``learning_rate``,
      ``val_map``, ``val_ap_player``, ...).
    * ``run_id`` continues an existing run (``--resume`` passes the id
      stored in the checkpoint) instead of starting a new one.
    * Any tracking failure (server down, bad URI, full disk) logs one
      warning and turns tracking off for the rest of the run; training goes
      on. Network calls time out after ``http_timeout`` seconds, without
      retries.

    Args:
        save_dir (str): MMEngine's vis_data directory (unused by MLflow).
        exp_name (str): experiment name. Defaults to ``'detr_training'``.
        run_name (str, optional): defaults to the work dir's name.
        tracking_uri (str, optional): see above.
        run_id (str, optional): an existing run to continue.
        tags (dict, optional): run tags.
        http_timeout (int): seconds before a tracking request fails.
            Defaults to 10.
        **kwargs: other ``MLflowVisBackend`` arguments.
    """

    def __init__(self,
                 save_dir: str,
                 exp_name: str = DEFAULT_EXPERIMENT,
                 run_name: Optional[str] = None,
                 tracking_uri: Optional[str] = None,
                 run_id: Optional[str] = None,
                 tags: Optional[dict] = None,
                 http_timeout: int = 10,
                 **kwargs) -> None:
        super().__init__(
            save_dir,
            exp_name=exp_name,
            run_name=run_name,
            tracking_uri=tracking_uri,
            tags=tags,
            **kwargs)
        self.run_id = run_id
        self.http_timeout = http_timeout
        self.failed = False
        self._resumed = run_id is not None

    @property
    def resumed(self) -> bool:
        """Whether this run continues an earlier one (``run_id`` given)."""
        return self._resumed

    # -- safety ------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        """Run an MLflow call; on failure warn once and stop tracking. A
        SQLite store busy with another run's write ("database is locked")
        is retried a few times first. A server that refuses the credentials
        when the run starts stops it instead: the user meant to track."""
        if self.failed:
            return None
        for attempt in range(LOCKED_RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - any tracking failure
                if 'database is locked' in str(e) and \
                        attempt < LOCKED_RETRIES:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                code = getattr(e, 'error_code', None)
                if what == 'connect' and code in AUTH_ERRORS:
                    raise ConfigError(
                        f'MLflow at {redact(self._tracking_uri)} refused '
                        f'{AUTH_ERRORS[code]}: set MLFLOW_TRACKING_USERNAME '
                        'and MLFLOW_TRACKING_PASSWORD to an account of that '
                        'server (docs/tracking.md)') from None
                self.failed = True
                MMLogger.get_current_instance().warning(
                    f'MLflow tracking failed ({what}: {type(e).__name__}: '
                    f'{(redact(str(e)).splitlines() or [""])[0][:300]}); '
                    'training continues without it')
                return None

    @property
    def active(self) -> bool:
        return self._env_initialized and not self.failed

    # -- MMEngine backend API ---------------------------------------------
    def _init_env(self) -> None:
        os.environ.setdefault('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '0')
        os.environ.setdefault('MLFLOW_HTTP_REQUEST_TIMEOUT',
                              str(self.http_timeout))
        import mlflow
        self._mlflow = mlflow
        self._tracking_uri = resolve_tracking_uri(self._tracking_uri)
        self._exp_name = (
            os.environ.get('MLFLOW_EXPERIMENT_NAME') or self._exp_name
            or DEFAULT_EXPERIMENT)
        self._call('connect', self._start_run)

    def _start_run(self) -> None:
        """Create the experiment (as a model-training one) and start or
        continue the run; then MMEngine's own set-up (save dir, log streams,
        tracking URI, experiment, tags and params of the run)."""
        mlflow = self._mlflow
        mlflow.set_tracking_uri(self._tracking_uri)
        # The first connection to a new SQLite store creates and migrates
        # its schema, and two runs started together would both migrate it
        # (one fails: "duplicate column name"); the experiment would be
        # created twice. Both happen under a lock file beside the store.
        with store_lock(self._tracking_uri):
            if mlflow.get_experiment_by_name(self._exp_name) is None:
                # a model-training experiment: MLflow's UI opens it on the
                # runs table (without a kind, MLflow 3 shows its GenAI
                # traces view)
                mlflow.create_experiment(
                    self._exp_name,
                    artifact_location=self._artifact_location
                    or local_artifact_root(self._tracking_uri),
                    tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        mlflow.set_experiment(self._exp_name)
        if mlflow.active_run() is not None:
            mlflow.end_run()
        # the run first: MMEngine's set-up tags the active run, and would
        # start a new one where none is active
        if self.run_id:
            run = mlflow.start_run(run_id=self.run_id)
        else:
            run = mlflow.start_run(run_name=self._run_name)
        self.run_id = run.info.run_id
        super()._init_env()
        tell_user(f'MLflow: run {self.run_id} '
                  f'({"continued" if self._resumed else "new"}) in experiment '
                  f'"{self._exp_name}" at {redact(self._tracking_uri)}')

    @force_init_env
    def add_config(self, config, **kwargs) -> None:
        self.cfg = config
        if self._run_name is None and not self._resumed:
            self._call('set run name', self._mlflow.set_tag, 'mlflow.runName',
                       osp.basename(osp.normpath(config.work_dir)))
        if not self._resumed:  # params are immutable in MLflow
            params = dict(config_params(config))
            params.update(environment_params())
            self.log_params(params)
        self._call('log config', self._mlflow.log_text, config.pretty_text,
                   'config.py')

    @force_init_env
    def add_scalars(self,
                    scalar_dict: dict,
                    step: int = 0,
                    file_path: Optional[str] = None,
                    **kwargs) -> None:
        metrics = {
            k: float(v)
            for k, v in rename_scalars(scalar_dict).items()
            if isinstance(v, (int, float)) or hasattr(v, 'item')
        }
        self._call('log metrics', self._mlflow.log_metrics, metrics, step=step)

    @force_init_env
    def add_scalar(self, name: str, value, step: int = 0, **kwargs) -> None:
        self.add_scalars({name: value}, step)

    @force_init_env
    def add_image(self, name: str, image, step: int = 0, **kwargs) -> None:
        self._call('log image', self._mlflow.log_image, image,
                   f'images/{name}_{step:06d}.png')

    # -- helpers for hooks ------------------------------------------------
    def log_params(self, params: dict) -> None:
        if self.active:
            self._call('log params', self._mlflow.log_params,
                       as_mlflow_params(params))

    def set_tags(self, tags: dict) -> None:
        if self.active:
            self._call('set tags', self._mlflow.set_tags, {
                k: str(v)
                for k, v in tags.items()
            })

    def log_artifact(self, path: str, artifact_path: Optional[str] = None):
        if self.active:
            self._call(f'log artifact {osp.basename(path)}',
                       self._mlflow.log_artifact, path, artifact_path)

    def log_model(self, model, name: str = 'model') -> None:
        """``mlflow.pytorch.log_model`` with pickle serialisation (needed
        for MMDetection models) and explicit requirements (no slow
        inference of them)."""
        if not self.active:
            return
        import mmcv
        import mmdet
        import mmengine
        import torch
        requirements = [
            f'torch=={torch.__version__.split("+")[0]}',
            f'mmengine=={mmengine.__version__}', f'mmcv=={mmcv.__version__}',
            f'mmdet=={mmdet.__version__}'
        ]
        self._call(
            'log model',
            self._mlflow.pytorch.log_model,
            model,
            name=name,
            serialization_format='pickle',
            pip_requirements=requirements)

    def end(self, status: str = 'FINISHED') -> None:
        """End the run with ``status``; never raises."""
        if self.active and self._mlflow.active_run() is not None:
            self._call('end run', self._mlflow.end_run, status=status)

    def close(self) -> None:
        """MMEngine's close: the work dir's logs, scalars and config
        (``artifact_suffix``) uploaded under their relative paths, then the
        run ended FINISHED. A run already ended (``end('FAILED')``) or whose
        tracking failed is left as it is."""
        if not self.active or self._mlflow.active_run() is None:
            return
        if getattr(self, 'cfg', None) is None:  # no config, no work dir
            self.end('FINISHED')
            return
        self._call('upload logs and end run', super().close)


def mlflow_backend_of(runner) -> Optional[FieldMLflowVisBackend]:
    """The runner's ``FieldMLflowVisBackend``; None when its visualizer
    has none (or there is no visualizer)."""
    try:
        return runner.visualizer.get_backend(FieldMLflowVisBackend.__name__)
    except AttributeError:  # no visualizer
        return None
