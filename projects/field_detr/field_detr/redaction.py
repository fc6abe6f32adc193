"""Credentials kept out of what field_detr prints, logs, dumps and uploads.

A tracking URI may carry a password (``postgresql://user:password@db/mlflow``,
``http://user:password@host``), and so may the exceptions that quote it.
:func:`redact` replaces the password of every URL in a text, a
``password=``-style query parameter and the values of the credential
variables MLflow reads (``MLFLOW_TRACKING_PASSWORD``,
``MLFLOW_TRACKING_TOKEN``) with ``***``; :func:`hide_config_credentials`
takes a tracking URI's credentials out of a config before anything prints,
dumps or uploads it.
"""
import os
import re

MASK = '***'

#: ``scheme://user:password@``: the password is what is hidden
_URL_PASSWORD = re.compile(
    r'(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*:)[^@/\s]+(?=@)')
#: ``password=...`` in a query string or a libpq keyword string
_KEY_VALUE = re.compile(
    r'(?P<head>\b(?:password|passwd|pwd|token|secret|access_key|'
    r'secret_key|api_key)=)[^&\s\'";]+', re.IGNORECASE)
#: variables whose values are secrets wherever they show up
SECRET_VARIABLES = ('MLFLOW_TRACKING_PASSWORD', 'MLFLOW_TRACKING_TOKEN',
                    'MLFLOW_TRACKING_CLIENT_CERT_PATH',
                    'AWS_SECRET_ACCESS_KEY', 'DATABRICKS_TOKEN')


def redact(text: str) -> str:
    """``text`` with every credential shown as ``***``."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: m['head'] + MASK, text)
    text = _KEY_VALUE.sub(lambda m: m['head'] + MASK, text)
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    return text


def has_credentials(text: str) -> bool:
    return isinstance(text, str) and redact(text) != text


#: redacted tracking URI -> the URI, for the configs of this process
_HIDDEN = {}


def hide_config_credentials(cfg) -> None:
    """Take the passwords out of the config's tracking URIs before the
    config is logged, dumped into the work dir or uploaded to the run: a
    visualizer backend's ``tracking_uri`` with credentials becomes its
    redacted form, which :func:`reveal` maps back to the URI in this
    process only."""
    visualizer = cfg.get('visualizer') or {}
    for backend in visualizer.get('vis_backends') or []:
        uri = backend.get('tracking_uri')
        if has_credentials(uri):
            backend['tracking_uri'] = redact(uri)
            _HIDDEN[backend['tracking_uri']] = uri


def reveal(uri):
    """The URI :func:`hide_config_credentials` redacted into ``uri``
    (``uri`` itself otherwise)."""
    return _HIDDEN.get(uri, uri)
