"""Current ClickHouse for tests: chdb (ClickHouse's engine as a library, from PyPI) behind the small part of
ClickHouse's HTTP interface that Pulse's exporter and tests use.

Debian's clickhouse-server is 18.16; Pulse gives newer servers other DDL (LowCardinality, codecs, TTL,
DateTime64, skip indexes: src/exporters/clickhouse/schema.ts). This runs those statements, Pulse's JSONEachRow
inserts and the README's queries on a current engine. The SQL is ClickHouse's own; only the HTTP layer is ours:

- POST (or GET) /?query=<sql>: the body is the data that follows the statement (an INSERT's rows);
  without `query`, the body is the statement. `query_id`, `database` and `session_id` are ignored.
- 200 with the result (`default_format`, else TabSeparated, unless the statement has a FORMAT clause; other
  settings are ignored); an error is a 500 whose body is
  ClickHouse's message ("Code: 60. DB::Exception: …") with X-ClickHouse-Exception-Code, as the server answers.
- GET /ping answers "Ok.".
One statement at a time (the engine's session is not shared between threads).

Usage: python3 chdb-http.py --port N --path DATA_DIR   (PYTHONPATH must hold the unpacked chdb-core wheel)
"""
import argparse
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from chdb import session as chdb_session

CODE = re.compile(r"Code: (\d+)\.")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    args = parser.parse_args()

    engine = chdb_session.Session(args.path)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # one line per request would drown the log
            pass

        def answer(self, status, body, code=None):
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            if code is not None:
                self.send_header("X-ClickHouse-Exception-Code", code)
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def handle_query(self):
            url = urlsplit(self.path)
            if url.path == "/ping":
                return self.answer(200, "Ok.\n")
            params = parse_qs(url.query)
            body = self.read_body().decode("utf-8")
            sql = params["query"][0] + "\n" + body if "query" in params else body
            if sql.strip() == "":
                return self.answer(400, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)\n", "62")
            try:
                fmt = params.get("default_format", ["TabSeparated"])[0]
                with lock:
                    result = engine.query(sql, fmt)
                out = result.bytes() if hasattr(result, "bytes") else bytes(result)
                return self.answer(200, out)
            except Exception as err:  # the engine's exception carries ClickHouse's message
                message = str(err)
                m = CODE.search(message)
                return self.answer(500, message + "\n", m.group(1) if m else "1001")

        do_POST = handle_query
        do_GET = handle_query

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    # SIGTERM (stopChdb): close the listening socket before exiting. Killed outright, the process could take a
    # while to tear down the engine's threads, holding the port, after /proc no longer shows its command line.
    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        with lock:
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
