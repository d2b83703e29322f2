#!/usr/bin/env python3
"""A tiny web site for the web-scanning tests (issue 10), stdlib only.

Run inside the target namespace; the scanners and the benign clients in the
scanner namespace point at it. It serves:

  /, /index.html        links to every page below, a search form
  /about.html, /contact.html (a POST form), /login (GET form, POST 200)
  /gallery.html         references 60 assets under /static/ (20 css, 20 js,
                        20 png), so a browser-like client loads a page with 60
                        assets
  /search?q=..., /item?id=...
                        echo the parameter in the body, so wapiti and sqlmap
                        find parameters to attack (nothing is executed)
  everything else       404, /favicon.ico and /robots.txt included

HTTP/1.1 with keep-alive (every answer has a Content-Length). It is bounded:
it exits after --timeout seconds, and within 0.2 s of the process that
started it dying, so a killed test never leaves it listening.

  webserver.py --bind 203.0.113.10 --bind 2001:db8:2::10 --port 80 --timeout 120
"""

import argparse
import html
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ASSETS = (
    [f"/static/css/style{i:02d}.css" for i in range(20)]
    + [f"/static/js/app{i:02d}.js" for i in range(20)]
    + [f"/static/img/photo{i:02d}.png" for i in range(20)]
)
ASSET_SET = frozenset(ASSETS)

# A 1x1 PNG, so image assets are real images.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def page(title, body):
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        "<nav><a href=\"/\">home</a> <a href=\"/about.html\">about</a> "
        "<a href=\"/contact.html\">contact</a> <a href=\"/gallery.html\">gallery</a> "
        "<a href=\"/search?q=x\">search</a> <a href=\"/item?id=1\">item 1</a> "
        "<a href=\"/item?id=2\">item 2</a> <a href=\"/login\">login</a></nav>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    ).encode()


SEARCH_FORM = (
    "<form action=\"/search\" method=\"get\"><input name=\"q\" value=\"\">"
    "<input type=\"submit\" value=\"search\"></form>"
)

PAGES = {
    "/": page("Lab shop", "<p>Welcome to the lab shop.</p>" + SEARCH_FORM),
    "/index.html": page("Lab shop", "<p>Welcome to the lab shop.</p>" + SEARCH_FORM),
    "/about.html": page("About", "<p>A small site for the scanwatch lab.</p>"),
    "/contact.html": page(
        "Contact",
        "<form action=\"/contact.html\" method=\"post\"><input name=\"name\">"
        "<input name=\"email\"><textarea name=\"message\"></textarea>"
        "<input type=\"submit\" value=\"send\"></form>",
    ),
    "/login": page(
        "Log in",
        "<form action=\"/login\" method=\"post\"><input name=\"user\">"
        "<input type=\"password\" name=\"password\"><input type=\"submit\" value=\"log in\"></form>",
    ),
    "/gallery.html": page(
        "Gallery",
        "\n".join(f"<link rel=\"stylesheet\" href=\"{a}\">" for a in ASSETS if a.endswith(".css"))
        + "\n"
        + "\n".join(f"<script src=\"{a}\"></script>" for a in ASSETS if a.endswith(".js"))
        + "\n"
        + "\n".join(f"<img src=\"{a}\" alt=\"\">" for a in ASSETS if a.endswith(".png")),
    ),
}


# Short, as a real server's 404 is: a wordlist run is mostly 404s, and the
# shipped captures stay small.
NOT_FOUND = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labweb/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version
    disable_nagle_algorithm = True
    # A stalled client must not hold a thread for ever.
    timeout = 10
    log_file = None

    def log_message(self, fmt, *args):  # quiet unless --log
        if self.log_file:
            self.log_file.write("%s %s\n" % (self.client_address[0], fmt % args))
            self.log_file.flush()

    def answer(self, status, body, ctype="text/html; charset=utf-8", head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one write: two small writes meet the client's
        # delayed ACK under Nagle and cost 40 ms a request.
        self._headers_buffer.append(b"\r\n")
        data = b"".join(self._headers_buffer) + (b"" if head else body)
        self._headers_buffer = []
        self.wfile.write(data)

    def route(self, head=False):
        u = urlsplit(self.path)
        path, q = u.path, parse_qs(u.query, keep_blank_values=True)
        if path in PAGES:
            return self.answer(200, PAGES[path], head=head)
        if path in ASSET_SET:
            if path.endswith(".css"):
                return self.answer(200, b"body { margin: 0 }\n", "text/css", head)
            if path.endswith(".js"):
                return self.answer(200, b"console.log('lab');\n", "application/javascript", head)
            return self.answer(200, PNG, "image/png", head)
        if path == "/search":
            v = q.get("q", [""])[0]
            return self.answer(200, page("Search", f"<p>Results for {html.escape(v)}: none.</p>" + SEARCH_FORM), head=head)
        if path == "/item":
            v = q.get("id", [""])[0]
            if v.isdigit() and 1 <= int(v) <= 5:
                return self.answer(200, page(f"Item {v}", f"<p>Item number {v}.</p>"), head=head)
            return self.answer(200, page("Item", f"<p>No item {html.escape(v)}.</p>"), head=head)
        return self.answer(404, NOT_FOUND, head=head)

    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route(head=True)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(max(n, 0), 1 << 20))
        if urlsplit(self.path).path in ("/login", "/contact.html"):
            return self.answer(200, page("Thanks", "<p>Received.</p>"))
        return self.answer(404, NOT_FOUND)

    def _other(self):
        self.answer(405, page("Method not allowed", ""))

    do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_TRACE = _other


class Server4(ThreadingHTTPServer):
    address_family = socket.AF_INET
    daemon_threads = True
    # socketserver's backlog of 5 drops the SYNs of a 40-thread fuzzer (the
    # lab turns SYN cookies off): a capture then shows unanswered SYNs that
    # a real server would have answered.
    request_queue_size = 256


class Server6(Server4):
    address_family = socket.AF_INET6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", action="append", required=True, help="address to listen on (repeatable)")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--timeout", type=float, default=120, help="exit after this many seconds")
    ap.add_argument("--log", help="append one line per request to this file")
    a = ap.parse_args()
    if not 0 < a.timeout <= 3600:
        ap.error("--timeout must be in (0, 3600] seconds")
    # The parent's PID is polled rather than PR_SET_PDEATHSIG asked for:
    # that signal comes when the parent *thread* ends, and a Go test's
    # threads come and go.
    parent = os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if a.log:
        Handler.log_file = open(a.log, "a")
    servers = []
    for addr in a.bind:
        cls = Server6 if ":" in addr else Server4
        try:
            servers.append(cls((addr, a.port), Handler))
        except OSError as e:
            sys.exit(f"webserver: cannot listen on [{addr}]:{a.port}: {e} (is the address assigned in this namespace?)")
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("listening on " + " ".join(f"[{b}]:{a.port}" for b in a.bind), flush=True)
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


if __name__ == "__main__":
    main()
