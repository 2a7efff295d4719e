#!/usr/bin/python3
"""s3_sigcheck.py PORT LOG - an S3 stand-in on 127.0.0.1:PORT that checks
the AWS Signature V4 of every request with botocore (an implementation
independent of libcurl's), for integration.s3_sigv4.

For each request it recomputes the signature with botocore's S3SigV4Auth
from what it received: the method; the path decoded and encoded again as
S3 does (quote(..., safe='/~')); the query decoded into parameters, which
botocore encodes and sorts itself; the headers named in the
Authorization header's SignedHeaders, with the values received; the same
x-amz-date.  It also checks what S3 itself checks: x-amz-content-sha256 is
the SHA-256 of the body received, and every x-amz-* header sent is signed
(S3 refuses unsigned ones).  A request that passes gets a plausible S3
answer; one that fails gets 403 SignatureDoesNotMatch with the reason.

Every request is logged to LOG as one JSON line: method, path, query,
signed headers, ok, reason.  The expected credentials come from the
environment: S3CHECK_ACCESS_KEY, S3CHECK_SECRET_KEY, S3CHECK_TOKEN (may be
empty), S3CHECK_REGION.
"""
import hashlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS = os.environ["S3CHECK_ACCESS_KEY"]
SECRET = os.environ["S3CHECK_SECRET_KEY"]
TOKEN = os.environ.get("S3CHECK_TOKEN", "")
REGION = os.environ.get("S3CHECK_REGION", "us-east-1")
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()
OBJECTS = {}  # path -> (body, sha256 meta)
EMPTY = hashlib.sha256(b"").hexdigest()


def check(method, raw_path, raw_query, headers, body):
    """(ok, reason, signed header names)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, "no AWS4-HMAC-SHA256 Authorization header", []
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    signed = fields.get("SignedHeaders", "").split(";")
    cred = fields.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != ACCESS or cred[2] != REGION or cred[3] != "s3" \
            or cred[4] != "aws4_request":
        return False, "bad credential scope %s" % "/".join(cred[1:]), signed
    if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        return False, "x-amz-content-sha256 is not the body's SHA-256", signed
    for name in headers:
        if name.startswith("x-amz-") and name not in signed:
            return False, "the header %s is not signed" % name, signed
    for name in ("host", "x-amz-date", "x-amz-content-sha256"):
        if name not in signed:
            return False, "the header %s is not signed" % name, signed
    if TOKEN and headers.get("x-amz-security-token") != TOKEN:
        return False, "the session token is missing or wrong", signed
    if not TOKEN and "x-amz-security-token" in headers:
        return False, "a session token was sent but none is configured", signed
    amz_date = headers.get("x-amz-date", "")
    if cred[1] != amz_date[:8]:
        return False, "the credential's date is not x-amz-date's", signed
    # What S3 computes: the path decoded and encoded the AWS way, the query
    # as parameters that botocore encodes and sorts itself.
    path = quote(unquote(raw_path), safe="/~")
    if path != raw_path:
        return False, "the path %s is not encoded as S3 encodes it (%s)" % (raw_path, path), signed
    params = parse_qsl(raw_query, keep_blank_values=True)
    req = AWSRequest(method=method, url="http://%s%s" % (headers["host"], path),
                     headers={n: headers.get(n, "") for n in signed}, params=params)
    req.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(ACCESS, SECRET, TOKEN or None), "s3", REGION)
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    want = signer.signature(sts, req)
    if want != fields.get("Signature"):
        return False, "the signature differs from botocore's; botocore's canonical request: " \
            + json.dumps(canonical), signed
    return True, "", signed


def xml(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client reuses its connection

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, reason, signed = check(self.command, parts.path, parts.query, headers, body)
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        with LOCK:
            LOG.write(json.dumps({"method": self.command, "path": parts.path,
                                  "query": parts.query, "signed": signed, "ok": ok,
                                  "reason": reason, "bytes": len(body)}) + "\n")
        if not ok:
            return self.answer(403, xml("<Error><Code>SignatureDoesNotMatch</Code><Message>%s"
                                        "</Message></Error>" % reason.replace("&", "&amp;")
                                        .replace("<", "&lt;")))
        key = unquote(parts.path)
        m = self.command
        if m == "PUT":
            with LOCK:
                if "partNumber" not in q:
                    OBJECTS[key] = (body, headers.get("x-amz-meta-sha256", ""))
            return self.answer(200, headers={"ETag": '"%s"' % hashlib.md5(body).hexdigest()})
        if m == "POST" and "uploads" in q:
            return self.answer(200, xml(
                "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                "<UploadId>upload+id/1=</UploadId></InitiateMultipartUploadResult>"))
        if m == "POST" and "uploadId" in q:
            if q["uploadId"] != "upload+id/1=" or b"<PartNumber>3</PartNumber>" not in body:
                return self.answer(400, xml("<Error><Code>InvalidPart</Code></Error>"))
            return self.answer(200, xml(
                "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                "</CompleteMultipartUploadResult>"))
        if m == "GET" and q.get("list-type") == "2":
            if "continuation-token" not in q:
                keys, more = ["a", "b"], "<NextContinuationToken>tok/en+1= &amp;x" \
                    "</NextContinuationToken>"
            elif q["continuation-token"] == "tok/en+1= &x":
                keys, more = ["c"], ""
            else:
                return self.answer(400, xml("<Error><Code>InvalidArgument</Code></Error>"))
            items = "".join("<Contents><Key>%s%s</Key><Size>%d</Size><LastModified>"
                            "2024-05-01T10:00:00.000Z</LastModified></Contents>"
                            % (q.get("prefix", "").replace("&", "&amp;"), k, i + 1)
                            for i, k in enumerate(keys))
            return self.answer(200, xml(
                "<ListBucketResult><IsTruncated>%s</IsTruncated>%s%s</ListBucketResult>"
                % ("true" if more else "false", items, more)))
        if m == "GET" and "uploads" in q:
            if "key-marker" not in q:
                up, more = ("k1", "id1"), "<NextKeyMarker>k1</NextKeyMarker>" \
                    "<NextUploadIdMarker>id/1+=</NextUploadIdMarker>"
            elif q["key-marker"] == "k1" and q.get("upload-id-marker") == "id/1+=":
                up, more = ("k2", "id2"), ""
            else:
                return self.answer(400, xml("<Error><Code>InvalidArgument</Code></Error>"))
            return self.answer(200, xml(
                "<ListMultipartUploadsResult><IsTruncated>%s</IsTruncated><Upload><Key>%s%s"
                "</Key><UploadId>%s</UploadId><Initiated>2024-05-01T10:00:00.000Z</Initiated>"
                "</Upload>%s</ListMultipartUploadsResult>"
                % ("true" if more else "false", q.get("prefix", ""), up[0], up[1], more)))
        if m in ("GET", "HEAD"):
            with LOCK:
                obj = OBJECTS.get(key)
            if not obj:
                return self.answer(404, xml("<Error><Code>NoSuchKey</Code></Error>"))
            h = {"Last-Modified": "Wed, 01 May 2024 10:00:00 GMT"}
            if obj[1]:
                h["x-amz-meta-sha256"] = obj[1]
            if m == "HEAD":
                h["Content-Length-Override"] = str(len(obj[0]))
                self.send_response(200)
                for k, v in h.items():
                    if k != "Content-Length-Override":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(obj[0])))
                self.end_headers()
                return None
            return self.answer(200, obj[0], h)
        if m == "DELETE":
            with LOCK:
                OBJECTS.pop(key, None)
            return self.answer(204)
        return self.answer(400, xml("<Error><Code>NotImplemented</Code></Error>"))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
