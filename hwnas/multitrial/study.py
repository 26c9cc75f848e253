"""Optuna studies: the storage a study lives in, and creating or joining one that records what it was made for.

Any number of worker processes, on any number of machines, share one study through its storage; Optuna does the
bookkeeping (no scheduler, queue or database code here):

- ``sqlite:///study.db``, ``postgresql://user@host/db``, any SQLAlchemy URL: :class:`optuna.storages.RDBStorage`
  with a heartbeat, so the trial of a worker that died (``kill -9``, a lost node) is marked failed after the grace
  period and run again (:class:`optuna.storages.RetryFailedTrialCallback`);
- ``journal:PATH``: :class:`optuna.storages.JournalStorage` on a file (a shared file system); it keeps no heartbeat,
  so a dead worker's trial stays running there;
- ``grpc://HOST:PORT``: :class:`optuna.storages.GrpcStorageProxy`, a proxy in front of one RDB storage (``optuna
  grpc-server`` or :func:`optuna.storages.run_grpc_proxy_server`) for many workers.

A study records in its user attributes (``hwnas``) the space's fingerprint, the objectives and the settings the
trials' values depend on (data, epochs, latency model); a study of the same name made for another space, other
objectives or other settings is refused, so trials of two experiments never mix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import UsageError

# the objectives of the accuracy–latency search: (name, direction)
OBJECTIVES: tuple[tuple[str, str], ...] = (("accuracy", "maximize"), ("latency_ms", "minimize"))
ATTR = "hwnas"


def optuna_module() -> Any:
    """``optuna``, or a one-line error saying how to install it (hwnas imports it only where a study is used)."""
    try:
        import optuna
    except ImportError:
        raise UsageError("multi-trial search runs on Optuna, which is not installed: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def space_fingerprint(space: Any) -> str:
    """What identifies a search space across processes and machines: a digest of its record."""
    return digest(space.to_dict())


def _redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for the message; an unparsable URL is shown as given
        return url


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _local_file(url: str) -> Any:
    """The file a ``journal:PATH`` or SQLite storage lives in, as SQLAlchemy reads the URL (None for a server's
    URL, or one it cannot parse: connecting reports that)."""
    from pathlib import Path

    if url.startswith("journal:"):
        return Path(url[len("journal:"):]).expanduser()
    if not url.startswith("sqlite"):
        return None
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy's ArgumentError and friends; make_storage reports them
        return None
    db = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or db.startswith("file:"):
        return None  # a URI filename: SQLite's own syntax, left to it
    return Path(db) if db and not db.startswith(":memory:") else ""


logger = logging.getLogger(__name__)

JOIN_WAIT_S = 60.0  # how long a worker waits for the study it joins to be created
CREATE_RETRIES = 5  # a new database's tables, created by two processes at once: the loser retries
_CREATE_RACE = ("already exists", "UNIQUE constraint failed")


def make_storage(url: str, *, heartbeat_interval: int | None = 10, grace_period: int | None = None,
                 max_retry: int = 3, must_exist: bool = False) -> Any:
    """The Optuna storage of ``url`` (see the module's doc). On an RDB storage a worker beats every
    ``heartbeat_interval`` seconds; a running trial without a beat for ``grace_period`` seconds (default twice the
    interval) is failed and enqueued again, at most ``max_retry`` times. Optuna beats only inside
    ``Study.optimize``: ``heartbeat_interval=None`` for ask-and-tell (the trial API). ``must_exist``: a worker
    joins a study, so a storage file that is not there is an error, not a new empty file."""
    optuna_module()
    if not isinstance(url, str) or not url.strip():
        raise UsageError("--storage is empty: give sqlite:///study.db, a PostgreSQL URL, journal:PATH or grpc://HOST:PORT")
    url = url.strip()
    local = _local_file(url)
    if local == "":
        raise UsageError(f"--storage {url} is a database in memory, which no other worker can join and nothing can "
                         "resume; give a file, e.g. sqlite:///study.db")
    if must_exist and local is not None and not local.is_file():
        raise UsageError(f"no study storage at {local} to join: start the study first without --worker, then give "
                         "each worker the same --storage")
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

        path = local
        if not path.parent.is_dir():
            raise UsageError(f"journal storage {path}: folder {path.parent} does not exist")
        if path.is_dir():
            raise UsageError(f"journal storage {path} is a folder; give a file, e.g. journal:{path / 'study.log'}")
        try:
            journal = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
            journal.get_all_studies()  # replayed now: a damaged file is one line here, not a traceback later
            return journal
        except OSError as exc:
            raise UsageError(f"cannot open journal storage {path}: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - Optuna's replay raises JSON, key and attribute errors
            raise UsageError(f"journal storage {path} is not a readable Optuna journal (damaged, e.g. cut short by a "
                             f"killed writer, or another kind of file): {_first_line(exc)}") from None
    if url.startswith("grpc://"):
        host, _, port = url[len("grpc://"):].rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"gRPC storage {url!r}: expected grpc://HOST:PORT")
        try:
            from optuna.storages import GrpcStorageProxy

            with warnings.catch_warnings():  # Optuna marks the proxy experimental: a warning, not the user's error
                warnings.simplefilter("ignore")
                proxy = GrpcStorageProxy(host=host, port=int(port))
            proxy.get_all_studies()  # reach it now: an unreachable proxy is one line, not a hang per trial
            return proxy
        except ImportError as exc:
            raise UsageError(f"gRPC storage needs grpcio: pip install grpcio ({_first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - grpc's errors have no common base worth importing
            raise UsageError(f"cannot reach the gRPC storage proxy {url}: {_first_line(exc)}") from None
    if "://" not in url:
        raise UsageError(f"--storage {url!r} is not a storage URL: give sqlite:///study.db, "
                         "postgresql://user@host/db, journal:PATH or grpc://HOST:PORT")
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    try:
        with warnings.catch_warnings():  # heartbeat_interval is marked experimental by Optuna
            warnings.simplefilter("ignore")
            beat = {} if heartbeat_interval is None else dict(
                heartbeat_interval=heartbeat_interval, grace_period=grace_period or 2 * heartbeat_interval,
                heartbeat_stale_trial_callback=RetryFailedTrialCallback(max_retry=max_retry))
            for attempt in range(CREATE_RETRIES):
                try:
                    return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **beat)
                except Exception as exc:  # noqa: BLE001 - two processes creating one new database's tables
                    if attempt == CREATE_RETRIES - 1 or not any(m in str(exc) for m in _CREATE_RACE):
                        raise
                    time.sleep(0.2 * (attempt + 1))  # the other one is creating them: use them once it has
    except ImportError as exc:  # the database driver (psycopg2, pymysql) is not installed
        raise UsageError(f"storage {_redact(url)}: its database driver is not installed ({_first_line(exc)})") \
            from None
    except Exception as exc:  # noqa: BLE001 - sqlalchemy's OperationalError / ArgumentError and the driver's own
        raise UsageError(f"cannot reach the study storage {_redact(url)}: {_first_line(exc)}") from None


def _describe(objectives: list[list[str]] | tuple) -> str:
    return ", ".join(f"{name} ({direction})" for name, direction in objectives)


def open_study(storage: Any, name: str, *, space: Any, settings: dict[str, Any],
               objectives: tuple[tuple[str, str], ...] = OBJECTIVES, sampler: Any = None, pruner: Any = None,
               join: bool = False, on_create: Callable[[Any], None] | None = None) -> Any:
    """The study ``name`` in ``storage`` (a storage object or URL): created if it does not exist (unless
    ``join``: a worker joins a study someone started), else loaded and checked against ``space``, ``objectives``
    and ``settings``. ``on_create(study)`` runs in the one process whose creation succeeded (the storage refuses a
    second study of that name), after the study is recorded as hwnas's."""
    optuna = optuna_module()
    if not name or not isinstance(name, str):
        raise UsageError("--study-name is empty")
    if isinstance(storage, str):
        storage = _joined_storage(storage, name) if join else make_storage(storage)
    record = {"space": space_fingerprint(space), "space_name": getattr(space, "name", "?"),
              "objectives": [list(o) for o in objectives], "settings": json.loads(json.dumps(settings, default=str))}
    exists = study_exists(storage, name)
    if join and not exists:
        raise UsageError(f"no study named {name!r} in the storage to join; start it first without --worker, and give "
                         "every worker the same --storage")
    created = False
    if not exists:
        try:
            study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                        directions=[d for _, d in objectives])
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it since we looked
            exists = True
    if exists:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    check_study(study, record)
    if created and on_create is not None:
        on_create(study)
    return study


def _joined_storage(url: str, name: str, wait_s: float | None = None) -> Any:
    """The storage of a study a worker joins, waiting up to ``wait_s`` (``JOIN_WAIT_S``) for the process that
    starts it to create the file and the study: workers started together (``hwnas multitrial ... &``) join, not
    fail."""
    wait = JOIN_WAIT_S if wait_s is None else wait_s
    deadline, said = time.monotonic() + wait, False
    while True:
        try:
            storage = make_storage(url, must_exist=True)
            if study_exists(storage, name) or time.monotonic() >= deadline:
                return storage
        except UsageError as exc:
            if "to join" not in str(exc) or time.monotonic() >= deadline:
                raise
        if not said:
            logger.warning(f"waiting up to {wait:.0f} s for study {name!r} to be started in {_redact(url)}")
            said = True
        time.sleep(0.5)


def study_exists(storage: Any, name: str) -> bool:
    return name in {s.study_name for s in _summaries(optuna_module(), storage)}


def _summaries(optuna: Any, storage: Any) -> list[Any]:
    try:
        return optuna.study.get_all_study_summaries(storage, include_best_trial=False)
    except Exception as exc:  # noqa: BLE001 - a storage that went away between connecting and reading
        raise UsageError(f"cannot read the studies in the storage: {_first_line(exc)}") from None


def check_study(study: Any, record: dict[str, Any]) -> None:
    """Record what ``study`` is for the first time; refuse it, in one line, when it was made for another space,
    other objectives or other settings."""
    have = study.user_attrs.get(ATTR)
    name = study.study_name
    if have is None:
        made = [str(d.name).lower() for d in study.directions]
        if made != [d for _, d in record["objectives"]]:
            raise UsageError(f"study {name!r} optimises {len(made)} objective(s) ({', '.join(made)}), not "
                             f"{_describe(record['objectives'])}; use another --study-name")
        if study.get_trials(deepcopy=False):
            raise UsageError(f"study {name!r} holds trials made outside hwnas multitrial; use another --study-name")
        study.set_user_attr(ATTR, record)
        return
    if have.get("objectives") != record["objectives"]:
        raise UsageError(f"study {name!r} optimises {_describe(have.get('objectives') or [])}, not "
                         f"{_describe(record['objectives'])}; use another --study-name")
    if have.get("space") != record["space"]:
        raise UsageError(f"study {name!r} was created for another space ({have.get('space_name')!r}, fingerprint "
                         f"{have.get('space')}; this one: {record['space_name']!r}, {record['space']}); use another "
                         "--study-name")
    if have.get("settings") != record["settings"]:
        before, now = have.get("settings") or {}, record["settings"]
        diff = [f"{k}: {before.get(k)!r} there, {now.get(k)!r} here" for k in sorted(set(before) | set(now))
                if before.get(k) != now.get(k)]
        raise UsageError(f"study {name!r} was made with other settings ({'; '.join(diff)}), so their trials would not "
                         "compare; use the same settings or another --study-name")
