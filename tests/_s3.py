"""An S3-compatible server for the tests: moto's server mode on 127.0.0.1.

Nothing is downloaded and no external network is used: moto (``moto[server]``, in
the test extras) runs in a thread of the test process. The server checks
credentials like S3 does: :func:`start_s3` creates an IAM user allowed ``s3:*`` and
then switches authentication on, so requests signed with another key or secret are
refused (``PermissionError`` from s3fs).

moto keeps one state per process (its users, keys and whether requests are checked
are shared by every server the process starts), so the tests use one server per
test process: :func:`session_server`, which the session-scoped ``s3`` fixture of
``tests/conftest.py`` returns (each test then makes its own bucket). Under
pytest-xdist each worker process has its own. Worker processes of a dask cluster
reach it over HTTP like any S3 client.
"""

from __future__ import annotations

import atexit
import json
import logging
import urllib.request
import uuid
from dataclasses import dataclass, field

REGION = "us-east-1"


@dataclass
class S3Server:
    """A running server: its endpoint and valid ``storage_options`` for s3fs."""

    endpoint: str
    key: str
    secret: str
    server: object = field(repr=False)

    @property
    def options(self) -> dict:
        """``storage_options`` that the server accepts."""
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION},
        }

    def client(self):
        """A boto3 S3 client with the valid credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
        )

    def new_bucket(self, prefix: str = "bigimg") -> str:
        """Create a bucket with a fresh name; return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        _set_auth(self.endpoint, "inf")  # moto's settings are process-wide
        self.server.stop()


def _set_auth(endpoint: str, free_requests: str) -> None:
    """Let ``free_requests`` more requests through unsigned ("0": check every request)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=free_requests.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=30).read()


_SESSION: list[S3Server] = []


def session_server() -> S3Server:
    """This process's server, started on first use (see the module docstring).

    The ``s3`` fixture stops it at the end of the session; if only callers without
    the fixture used it, it is stopped at interpreter exit.
    """
    if not _SESSION:
        _SESSION.append(start_s3())
        atexit.register(stop_session_server)
    return _SESSION[0]


def stop_session_server() -> None:
    """Stop this process's server, if one was started."""
    while _SESSION:
        _SESSION.pop().stop()


def start_s3() -> S3Server:
    """Start moto's S3 server on 127.0.0.1 (a free port) with credential checks on.

    Prefer :func:`session_server`: the user is made with requests let through
    unchecked, which (moto's state being per process) a second server also needs.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _set_auth(endpoint, "inf")  # a server started earlier in this process may check them
    user = f"bigimg-tests-{uuid.uuid4().hex[:8]}"
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_auth(endpoint, "0")  # from now on every request must be signed validly
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], server)
