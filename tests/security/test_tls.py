"""The review over https: a real TLS server on loopback with a certificate
made for the test, trusted through REQUESTS_CA_BUNDLE or not at all."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opskit.security import headers
from opskit.security.http import fetch
from tests.security.conftest import Route, Site, _handler

HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload")


def _write_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[Site, Path]]:
    """An https server for ``localhost`` and the certificate it presents."""
    cert, key = _write_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    holder = Site(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    holder.base = f"https://localhost:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder, cert
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_trusted_https_site_is_judged_on_its_headers(
    tls_site: tuple[Site, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure, cert = tls_site
    secure.routes["/"] = Route(headers=[HSTS, ("X-Content-Type-Options", "nosniff")])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))

    fetched = fetch(secure.url("/"), timeout=5)
    found = {f.id for f in headers.review(fetched)}

    assert fetched.error == ""
    assert fetched.final.url == secure.url("/")
    assert "hsts-missing" not in found
    assert not {"fetch-failed", "http-no-redirect", "xcto-missing"} & found


def test_an_untrusted_certificate_is_a_finding_not_a_crash(
    tls_site: tuple[Site, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure, _ = tls_site
    secure.routes["/"] = Route(headers=[HSTS])
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    found = headers.review(fetch(secure.url("/"), timeout=5))

    assert [f.id for f in found] == ["fetch-failed"]
    assert "TLS error" in found[0].evidence
    assert "certificate verify failed" in found[0].evidence


def test_a_redirect_from_http_to_https_is_followed_across_schemes(
    site: Site, tls_site: tuple[Site, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure, cert = tls_site
    secure.routes["/"] = Route(headers=[HSTS])
    site.routes["/"] = Route(status=301, headers=[("Location", secure.url("/"))])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))

    fetched = fetch(site.url("/"), timeout=5)
    found = {f.id: f.evidence for f in headers.review(fetched)}

    assert [(h.status, h.url) for h in fetched.hops] == [
        (301, site.url("/")),
        (200, secure.url("/")),
    ]
    assert "http-no-redirect" not in found
    assert found["redirect-chain"] == f"301 {site.url('/')} -> 200 {secure.url('/')}"
