"""moto's AWS emulator, serialized: one request at a time.

moto's threaded server checks a condition and then writes without a lock, so concurrent
conditional writes can both win. This launcher runs moto's WSGI app behind a single lock, which
makes every request atomic. Every test and benchmark uses it (DESIGN.md section 10).

Usage: moto_server.py [--host 127.0.0.1] [--port 0]
Prints "port N" on its first line once it listens (port 0 picks a free port). It exits when its
parent dies, even on SIGKILL (PR_SET_PDEATHSIG).
"""

import argparse
import ctypes
import signal
import sys
import threading


def die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


class Serialized:
    """A WSGI middleware that runs one request at a time, response body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            body = self.app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close:
                    close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    die_with_parent()

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = Serialized(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
