#!/usr/bin/env python3
"""A stand-in for the kubelet's /pods endpoint, for the api tier.

usage: fake_kubelet.py PODS_JSON TOKEN CERT KEY PORT_FILE

Serves GET /pods over HTTPS with the file PODS_JSON (read anew on each
request, so a test can change it), only to a request that carries
"Authorization: Bearer TOKEN"; anything else gets 401. Writes the port it
listens on to PORT_FILE, and a line per request to stderr.
"""
import http.server
import ssl
import sys

pods_path, token, cert, key, port_file = sys.argv[1:6]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + token:
            self.send_response(401)
            self.end_headers()
            return
        if self.path != "/pods":
            self.send_response(404)
            self.end_headers()
            return
        with open(pods_path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
