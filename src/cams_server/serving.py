"""Running servers: one process, or N worker processes sharing one listening socket.

With `workers > 1` the parent binds the socket, forks the workers (each builds its
own `ServerState` after the fork: no connection crosses a fork), prints the
listening line once every worker accepts connections, restarts a worker that dies,
and stops them all on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from importlib.machinery import EXTENSION_SUFFIXES
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from cams_server.gateway.metrics import count_in_files
from cams_server.gateway.protocol import HttpLimits, uvicorn_config
from cams_server.server import ServerState
from cams_server.settings import ServerSettings
from cams_server.store.private_files import private_directory
from cams_server.tls import TlsFiles

__all__ = ["ServeOptions", "bind", "compiled_modules", "ensure_descriptors", "serve"]

log = logging.getLogger("cams_server")
_STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class ServeOptions:
    host: str
    settings: ServerSettings
    workers: int = 1
    tls: TlsFiles | None = None
    trusted_proxies: tuple[str, ...] = ()


# File descriptors a process needs beside its connections (database, logs, listening
# socket, Redis and PostgreSQL pools).
_RESERVED_DESCRIPTORS = 128


def ensure_descriptors(limits: HttpLimits) -> str | None:
    """Raise this process's open-file limit to fit `max_connections`; else say why not.

    A connection cap above the limit would let a flood of sockets exhaust descriptors
    before the cap refuses anything, and the database could no longer open its files.
    """
    needed = limits.max_connections + _RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        return (
            f"--max-connections {limits.max_connections} needs {needed} open files, but this "
            f"process may open at most {hard} (ulimit -Hn): lower --max-connections to "
            f"{max(1, hard - _RESERVED_DESCRIPTORS)} or raise the limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return None


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for a
    # socket whose protocol says TCP; without it every kept-alive answer waits ~40 ms for
    # the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(options: ServeOptions, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{options.host}]" if ":" in options.host else options.host
    return f"{'https' if options.tls else 'http'}://{shown}:{port}"


async def _serve_one(
    options: ServeOptions, sock: socket.socket, on_started: Callable[[], None]
) -> None:
    state = ServerState(options.settings)
    config = uvicorn_config(
        state.app(),
        tls=options.tls,
        trusted_proxies=options.trusted_proxies,
        limits=options.settings.http,
    )
    server = uvicorn.Server(config)
    _settle_garbage_collector()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        on_started()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _settle_garbage_collector() -> None:
    """Tune the collector for a server that makes short-lived objects per call.

    What exists once the server is built (the catalog, the world, the modules) lives as
    long as the process: `gc.freeze` moves it out of every collection's scan. A call's
    objects die with the call; collecting the young generation every 700 allocations (the
    default) mostly finds nothing, so it runs every 10,000 (bench/README.md: the CPU per
    call it saves).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop, the loop `uvicorn_config` names (uvicorn only installs it itself
    when it runs the server; `serve(sockets=...)` is ours to run)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coroutine)


def _worker(options: ServeOptions, sock: socket.socket, ready: Any, index: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if options.settings.metrics_directory is not None:
        count_in_files(options.settings.metrics_directory)
    _run(_serve_one(options, sock, lambda: ready.put(index)))


def compiled_modules() -> list[str]:
    """The modules of cams_server this process runs compiled: the request path in a release
    build (setup.py), none in a source or editable install."""
    suffixes = tuple(EXTENSION_SUFFIXES)
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("cams_server.")
        and (getattr(module, "__file__", None) or "").endswith(suffixes)
    )


def serve(options: ServeOptions, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve until stopped; `announce(url)` runs once every process accepts connections."""
    compiled = compiled_modules()
    if compiled:
        log.info("release build: %d modules of the request path compiled", len(compiled))
    else:
        log.info("source build: the request path runs as Python (a release build compiles it)")
    if options.workers == 1:
        _run(_serve_one(options, sock, lambda: announce(_url(options, sock))))
        return
    metrics = _metrics_directory(options.settings.home)
    options = replace(options, settings=replace(options.settings, metrics_directory=metrics))
    try:
        _serve_workers(options, sock, announce)
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


def _metrics_directory(home: Path) -> Path:
    """A fresh private directory for this server's workers' metrics, under
    `$CAMS_HOME/metrics/<pid>`; those of servers no longer running are removed."""
    parent = home / "metrics"
    private_directory(parent)
    for stale in parent.iterdir():
        if stale.name.isdigit() and not _running(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    directory = parent / str(os.getpid())
    shutil.rmtree(directory, ignore_errors=True)
    private_directory(directory)
    return directory


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _serve_workers(
    options: ServeOptions, sock: socket.socket, announce: Callable[[str], None]
) -> None:
    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    stopping = False

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_worker,
            args=(options, sock, ready, index),
            name=f"cams-server-worker-{index}",
            daemon=False,
        )
        process.start()
        return process

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start(i) for i in range(options.workers)]
    started: set[int] = set()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while len(started) < options.workers and not stopping:
        if time.monotonic() > deadline or any(p.exitcode is not None for p in processes):
            log.error("workers did not start; stopping")
            stopping = True
            break
        with contextlib.suppress(Exception):
            started.add(ready.get(timeout=0.1))
    if not stopping:
        announce(_url(options, sock))
    while not stopping:
        time.sleep(0.2)
        for i, process in enumerate(processes):
            if process.exitcode is not None and not stopping:
                log.error(
                    "worker %d (pid %s) exited with %s; restarting it",
                    i,
                    process.pid,
                    process.exitcode,
                )
                processes[i] = start(i)
    for process in processes:
        if process.pid is not None and process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(15)
        if process.exitcode is None:
            process.kill()
            process.join()
    ready.close()
